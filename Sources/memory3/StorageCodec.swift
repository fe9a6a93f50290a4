import ArgumentParser
import Memory3Memory

/// The codec a command stores memories with: the profile's own (compact), else --codec, else
/// int8; a --codec that contradicts the profile is a usage error.
func storageCodec(_ profile: MemoryProfile, requested: String?) throws -> MemoryCodec {
    do {
        return try profile.storageCodec(requested: requested.map { try MemoryCodec(parsing: $0) })
    } catch let error as MemoryProfileError {
        throw ValidationError(error.description)
    } catch let error as MemoryCodecError {
        throw ValidationError(error.description)
    }
}
