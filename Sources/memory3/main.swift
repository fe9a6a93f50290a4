import GGUF
let f = try GGUFFile(path: CommandLine.arguments[1])
print(f.version, f.tensors.count, f.metadata.count, f.dataOffset)
for k in f.metadataKeys { let v = f.metadata[k]!; if case .array(let a) = v { print(k, "array", a.count, a.prefix(3)) } else { print(k, v) } }
for t in f.tensors.prefix(12) { print(t.name, t.dimensions, t.type.name) }
