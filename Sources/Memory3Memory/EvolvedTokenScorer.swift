/// The weights of the evolved token scorer (`MemoryProfile.TokenSelection.evolved`), one per
/// `TokenFeatures.Feature` in order. Written by `scripts/evolve-token-scorer.py` (CMA-ES on a
/// generated training set; see docs/memory-quality.md for the run that produced them).
enum EvolvedTokenScorer {
    static let weights: [Float] = [1, 0, 0, 0, 0, 0, 0]
}
