import ArgumentParser
import Memory3Memory
import Memory3Model

/// The codec a command stores memories with: the profile's own (compact), else --codec, else the
/// model's own (`MemoryCodec.modelDefault`; int8 when no model is given, as when only validating);
/// a --codec that contradicts the profile is a usage error.
func storageCodec(_ profile: MemoryProfile, requested: String?, model: DecoderConfig? = nil) throws -> MemoryCodec {
    do {
        return try profile.storageCodec(requested: requested.map { try MemoryCodec(parsing: $0) },
                                        modelDefault: model.map(MemoryCodec.modelDefault(for:)) ?? .default)
    } catch let error as MemoryProfileError {
        throw ValidationError(error.description)
    } catch let error as MemoryCodecError {
        throw ValidationError(error.description)
    }
}
