#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a tensor's data lies in the file and how to read it. Dimensions are GGML's `ne`:
/// `dimensions[0]` is the innermost (contiguous) one, the input size of a linear weight.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    public let dimensions: [Int]
    public let type: GGMLType
    /// Offset from the start of the tensor data section.
    public let offset: Int
    public var elementCount: Int { dimensions.reduce(1, *) }
    public var byteCount: Int { type.byteCount(elements: elementCount) ?? 0 }
    public var rows: Int { elementCount / max(dimensions.first ?? 1, 1) }
}

/// A GGUF file (versions 2 and 3), memory-mapped read-only. Metadata and tensor infos are parsed
/// up front and validated; tensor data stays in the mapping and is read in place.
public final class GGUFFile: @unchecked Sendable {
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Tensor infos in file order.
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Absolute file offset of the tensor data section.
    public let dataOffset: Int
    public let fileSize: Int

    private let tensorIndex: [String: Int]
    private let base: UnsafeRawPointer
    private let mappedLength: Int
    private let ownedBuffer: UnsafeMutableRawBufferPointer?

    /// Maps the file at `path` and parses it.
    public convenience init(path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw GGUFError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw GGUFError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw GGUFError.cannotOpen(path: path, reason: "not a regular file")
        }
        let size = Int(info.st_size)
        guard size > 0 else { throw GGUFError.truncated(at: 0, needed: 4, fileSize: 0) }
        guard let mapping = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapping != MAP_FAILED else {
            throw GGUFError.cannotOpen(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        try self.init(base: UnsafeRawPointer(mapping), length: size, owned: nil, mapped: true)
    }

    /// Parses a GGUF image held in memory (used by tests and tools); the bytes are copied.
    public convenience init(bytes: [UInt8]) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
        do {
            try self.init(base: UnsafeRawPointer(buffer.baseAddress!), length: bytes.count, owned: buffer, mapped: false)
        } catch {
            buffer.deallocate()
            throw error
        }
    }

    private init(base: UnsafeRawPointer, length: Int, owned: UnsafeMutableRawBufferPointer?, mapped: Bool) throws {
        func unmapOnFailure() { if mapped { munmap(UnsafeMutableRawPointer(mutating: base), length) } }
        do {
            let parsed = try GGUFParser.parse(UnsafeRawBufferPointer(start: base, count: length))
            self.version = parsed.version
            self.metadata = parsed.metadata
            self.metadataKeys = parsed.metadataKeys
            self.tensors = parsed.tensors
            self.alignment = parsed.alignment
            self.dataOffset = parsed.dataOffset
        } catch {
            unmapOnFailure()
            throw error
        }
        self.fileSize = length
        self.base = base
        self.mappedLength = mapped ? length : 0
        self.ownedBuffer = owned
        var index: [String: Int] = [:]
        for (i, t) in tensors.enumerated() { index[t.name] = i }
        self.tensorIndex = index
    }

    deinit {
        if mappedLength > 0 { munmap(UnsafeMutableRawPointer(mutating: base), mappedLength) }
        ownedBuffer?.deallocate()
    }

    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The raw bytes of a tensor, in place in the mapping (valid while this file is alive).
    public func data(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + dataOffset + tensor.offset, count: tensor.byteCount)
    }

    /// Tells the kernel that a mapped tensor's pages are not needed now (they are read again from
    /// the file if touched): for tensors copied elsewhere at load. Does nothing for a file in memory.
    public func releasePages(of tensor: GGUFTensorInfo) {
        guard mappedLength > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = Int(bitPattern: base) + dataOffset + tensor.offset
        let first = (start + page - 1) / page * page, end = (start + tensor.byteCount) / page * page
        guard end > first else { return }
        madvise(UnsafeMutableRawPointer(bitPattern: first), end - first, Int32(MADV_DONTNEED))
    }

    /// The tensor converted to Float32 (for small tensors, norms and tests).
    public func floats(of tensor: GGUFTensorInfo) -> [Float] {
        let raw = data(of: tensor)
        return [Float](unsafeUninitializedCapacity: tensor.elementCount) { out, count in
            Dequantize.run(tensor.type, from: raw.baseAddress!, count: tensor.elementCount, into: out.baseAddress!)
            count = tensor.elementCount
        }
    }

    // MARK: - Typed metadata access

    public func string(_ key: String) throws -> String {
        guard let v = metadata[key] else { throw GGUFError.missingMetadata(key) }
        guard let s = v.stringValue else { throw GGUFError.wrongMetadataType(key: key, expected: "a string") }
        return s
    }

    public func int(_ key: String) throws -> Int {
        guard let v = metadata[key] else { throw GGUFError.missingMetadata(key) }
        guard let i = v.intValue else { throw GGUFError.wrongMetadataType(key: key, expected: "an integer") }
        return i
    }

    public func double(_ key: String) throws -> Double {
        guard let v = metadata[key] else { throw GGUFError.missingMetadata(key) }
        guard let d = v.doubleValue else { throw GGUFError.wrongMetadataType(key: key, expected: "a number") }
        return d
    }

    public func stringArray(_ key: String) throws -> [String] {
        guard let v = metadata[key] else { throw GGUFError.missingMetadata(key) }
        guard let a = v.arrayValue, let s = v.stringArray, s.count == a.count else {
            throw GGUFError.wrongMetadataType(key: key, expected: "an array of strings")
        }
        return s
    }

    public func intArray(_ key: String) throws -> [Int] {
        guard let v = metadata[key] else { throw GGUFError.missingMetadata(key) }
        guard let a = v.arrayValue else { throw GGUFError.wrongMetadataType(key: key, expected: "an array of integers") }
        var out: [Int] = []
        out.reserveCapacity(a.count)
        for e in a {
            guard let i = e.intValue else { throw GGUFError.wrongMetadataType(key: key, expected: "an array of integers") }
            out.append(i)
        }
        return out
    }
}
