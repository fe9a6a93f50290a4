/// The weights of the evolved token scorer (`MemoryProfile.TokenSelection.evolved`), one per
/// `TokenFeatures.Feature` in order (meanAttention, recentAttention, peakAttention, keyNorm, valueNorm, surprise, position).
/// Written by scripts/evolve-token-scorer.py (CMA-ES, seed 1, on a training set generated
/// with seed 101, at tokens=35%); config/token-scorer.json has its curve.
enum EvolvedTokenScorer {
    static let weights: [Float] = [0.3051, -0.60948, 0.57468, 0.63323, 1.96002, 1.51769, -1.10594]
}
