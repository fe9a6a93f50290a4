import Memory3Model

extension MemoryCodec {
    /// The codec a model's memories are stored with when neither the profile nor the configuration
    /// names one: the smallest codec that held the quality bar on the one model of that
    /// architecture we measured (docs/memory-quality.md, "Rotated codecs"), int8 for an
    /// architecture never measured. Other models of a measured architecture (any llama GGUF) get
    /// its codec by extrapolation, unmeasured: `memory.codec` / `--codec int8` for those.
    ///
    /// - llama (SmolLM2-135M): int3r, 0.71 MB per 128 reference tokens against int8's 1.51;
    ///   public easy set 95.8% exact match as int8, hard set 22.7% against 23.2%.
    /// - gemma3 (Gemma 3 270M): int2, 0.47 MB against 1.16; easy 94.2% against 98.3%, hard 26.8%
    ///   against 25.8%. Rotation reads worse on Gemma 3 (int3r 85.0% easy), so its default is the
    ///   plain layout.
    public static func modelDefault(for model: DecoderConfig) -> MemoryCodec {
        switch model.architecture {
        case "llama": return .int3r
        case "gemma3": return .int2
        default: return .default
        }
    }
}
