// swift-tools-version: 6.0
import PackageDescription

// Hot loops are built for the machine class (haswell: AVX2, FMA, F16C) and optimized even in
// debug builds: the tests run the real model, and an unoptimized forward pass is 50x slower.
let engineSettings: [SwiftSetting] = [
    .unsafeFlags(["-target-cpu", "haswell"]),
    .unsafeFlags(["-O"], .when(configuration: .debug)),
]

let package = Package(
    name: "memory3",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "memory3", targets: ["memory3"]),
        .library(name: "Memory3Model", targets: ["Memory3Model"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // Quantized dot products in C: AVX2/FMA/F16C picked at run time, scalar fallback. Optimized
        // in every configuration (the tests run the real model).
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .systemLibrary(name: "CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "COpenSSL", providers: [.apt(["libssl-dev"])]),
        // libpq, PostgreSQL's client library: the shared store of replicas (memory.store = postgres://...).
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .target(name: "GGUF", swiftSettings: engineSettings),
        .target(name: "Tokenizer", dependencies: ["GGUF"], swiftSettings: engineSettings),
        .target(name: "Memory3Model", dependencies: ["CKernels", "GGUF", "Tokenizer"], swiftSettings: engineSettings),
        // The store of documents, references and encoded memories, on SQLite (embedded) or
        // PostgreSQL (shared by replicas); knows nothing of models.
        .target(name: "MemoryStore", dependencies: ["CKernels", "CSQLite", "CLibPQ"], swiftSettings: engineSettings),
        // Explicit memory: chunking, encoding (profiles), codecs, ingestion.
        .target(
            name: "Memory3Memory",
            dependencies: ["CKernels", "Memory3Model", "MemoryStore", "CZlib", "COpenSSL", "GGUF", "Tokenizer"],
            swiftSettings: engineSettings
        ),
        // Generation with explicit memory: retrieval every 64 tokens, memory cache, reading policy.
        .target(
            name: "Memory3Engine",
            dependencies: ["Memory3Model", "Memory3Memory", "MemoryStore", "Tokenizer"],
            swiftSettings: engineSettings
        ),
        // HTTP/1.1 on POSIX sockets, the OpenAI-compatible API, metrics, scheduling.
        .target(
            name: "Memory3Server",
            dependencies: ["Memory3Model", "Memory3Engine", "Memory3Memory", "MemoryStore", "Tokenizer", "CZlib", "COpenSSL",
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: engineSettings
        ),
        .executableTarget(
            name: "memory3",
            dependencies: [
                "Memory3Model",
                "Memory3Memory",
                "MemoryStore",
                "Memory3Server",
                "Memory3Engine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: engineSettings
        ),
        // Tiny random Llama models written as GGUF files, shared by the engine, memory and server tests.
        .target(name: "Memory3TestSupport", dependencies: ["GGUF", "Memory3Model"], path: "Tests/Memory3TestSupport"),
        .testTarget(name: "CKernelsTests", dependencies: ["CKernels", "GGUF"]),
        .testTarget(name: "GGUFTests", dependencies: ["GGUF"]),
        .testTarget(name: "MemoryStoreTests", dependencies: ["MemoryStore"]),
        .testTarget(name: "Memory3EngineTests", dependencies: ["Memory3Engine", "Memory3Memory", "Memory3Model", "MemoryStore", "Tokenizer", "GGUF", "Memory3TestSupport"]),
        .testTarget(
            name: "Memory3ServerTests",
            dependencies: ["Memory3Server", "Memory3Engine", "Memory3Memory", "MemoryStore", "Memory3Model", "Tokenizer", "GGUF", "Memory3TestSupport", "COpenSSL"]
        ),
        .testTarget(name: "Memory3MemoryTests", dependencies: ["CKernels", "Memory3Memory", "Memory3Model", "MemoryStore", "GGUF", "Tokenizer", "Memory3TestSupport"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "GGUF"]),
        .testTarget(name: "Memory3ModelTests", dependencies: ["CKernels", "Memory3Model", "GGUF", "Tokenizer", "Memory3TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
