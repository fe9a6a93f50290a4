import GGUF

/// Reads weight tensors by name from a GGUF file, checking each one's shape, and remembers the
/// matrices so that one check can tell whether the engine multiplies them all.
final class WeightLoader {
    let file: GGUFFile
    private var matrices: [WeightMatrix] = []
    /// The packed copies of this model's matrices, together in huge-page regions.
    private let arena = PackedWeightArena()

    init(file: GGUFFile) {
        self.file = file
    }

    /// A `rows` x `columns` matrix (GGUF shape [columns, rows]), read in place.
    func matrix(_ name: String, columns: Int, rows: Int) throws -> WeightMatrix {
        let m = try WeightMatrix(file: file, name: name, columns: columns, rows: rows, arena: arena)
        matrices.append(m)
        return m
    }

    /// A vector of `count` floats (norm weights), converted from its stored type.
    func vector(_ name: String, count: Int) throws -> [Float] {
        guard let info = file.tensor(named: name) else { throw ModelError.file(.missingTensor(name)) }
        guard info.dimensions == [count] else {
            throw ModelError.file(.wrongTensorShape(tensor: name, expected: [count], found: info.dimensions))
        }
        return file.floats(of: info)
    }

    /// Throws for the first matrix whose rows are not whole blocks of its type.
    func checkMultipliable() throws {
        for m in matrices where m.columns % m.type.blockSize != 0 {
            throw ModelError.unsupportedWeightType(tensor: m.name, type: m.type.name)
        }
    }
}
