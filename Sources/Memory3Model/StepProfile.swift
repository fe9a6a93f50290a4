import Foundation

/// Where a forward step's time goes, by kind of work, summed over steps (`memory3 bench
/// --profile`). Off unless a benchmark sets `active`: then each phase costs one optional check.
/// Times are wall clock on the calling thread, so a phase's parallel loop counts until its last
/// chunk is done (waiting on a slow worker shows up in the phase that waited).
public final class StepProfile: @unchecked Sendable {
    public enum Phase: Int, CaseIterable, Sendable {
        case sampling, embedding, norms, queryKeyValue, ropeAndCache, attention, attentionOutput, gateUp, activation, down, logits

        public var label: String {
            switch self {
            case .sampling: "sampling (argmax)"
            case .embedding: "token embedding"
            case .norms: "RMS norms"
            case .queryKeyValue: "Q/K/V matmul"
            case .ropeAndCache: "RoPE, QK-norm, KV store"
            case .attention: "attention"
            case .attentionOutput: "attention output matmul + residual"
            case .gateUp: "gate/up matmul"
            case .activation: "SwiGLU / GeGLU"
            case .down: "down matmul + residual"
            case .logits: "final norm + output matmul"
            }
        }
    }

    /// The profile that forward steps record into; nil (the default) records nothing.
    nonisolated(unsafe) public static var active: StepProfile?

    private var nanoseconds = [UInt64](repeating: 0, count: Phase.allCases.count)
    private var last: UInt64 = 0

    public init() {}

    /// Starts timing from now (the next `lap` counts from here).
    public func start() { last = DispatchTime.now().uptimeNanoseconds }

    /// Adds the time since the last lap (or `start`) to `phase`.
    public func lap(_ phase: Phase) {
        let now = DispatchTime.now().uptimeNanoseconds
        nanoseconds[phase.rawValue] &+= now &- last
        last = now
    }

    /// Seconds per phase so far.
    public func seconds(_ phase: Phase) -> Double { Double(nanoseconds[phase.rawValue]) / 1e9 }
}
