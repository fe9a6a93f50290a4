import Synchronization

/// Work buffers of one forward step, sized for its batch of rows and reused across steps, so
/// that decode allocates nothing once warm. They belong to the model's `ScratchPool`, not to a
/// sequence: a step borrows one set for its duration.
final class ForwardScratch {
    /// Widths of one row of each buffer.
    struct Shape: Equatable {
        var embedding: Int
        var queryDim: Int
        var kvDim: Int
        /// The feed-forward's inner width.
        var hidden: Int
    }

    let shape: Shape
    private(set) var tokens = 0
    private(set) var x = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var normed = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var q = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var k = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var v = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var attention = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var gate = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var up = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    /// RoPE's cos/sin per row (`Rope.rotations`): room for two tables (Gemma 3's local and global)
    /// of up to a head's dims each, which the query width bounds.
    private(set) var rotations = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    /// 8-bit activations for the quantized matrix kernels (widest input: the FFN).
    private(set) var blocks = ActivationBuffers(capacity: 1)

    init(shape: Shape) {
        self.shape = shape
    }

    /// Makes room for `n` rows.
    func reserve(tokens n: Int) {
        guard n > tokens else { return }
        release()
        tokens = n
        let s = shape
        x = .allocate(capacity: n * s.embedding)
        normed = .allocate(capacity: n * s.embedding)
        q = .allocate(capacity: n * s.queryDim)
        attention = .allocate(capacity: n * s.queryDim)
        k = .allocate(capacity: n * s.kvDim)
        v = .allocate(capacity: n * s.kvDim)
        gate = .allocate(capacity: n * s.hidden)
        up = .allocate(capacity: n * s.hidden)
        rotations = .allocate(capacity: n * 2 * s.queryDim)
        blocks = ActivationBuffers(capacity: n * (max(s.hidden, s.embedding, s.queryDim) + 31) / 32)
    }

    private func release() {
        for p in [x, normed, q, attention, k, v, gate, up, rotations] { p.deallocate() }
    }

    deinit { release() }
}

/// Scratch sets of one model, lent to forward steps (usually one at a time: the scheduler's
/// thread; more when tools run forwards on several threads).
final class ScratchPool: Sendable {
    private let shape: ForwardScratch.Shape
    private let idle = Mutex<[ForwardScratch]>([])

    init(shape: ForwardScratch.Shape) {
        self.shape = shape
    }

    func withScratch<T>(tokens: Int, _ body: (ForwardScratch) throws -> T) rethrows -> T {
        let scratch = idle.withLock { $0.popLast() } ?? ForwardScratch(shape: shape)
        defer { idle.withLock { $0.append(scratch) } }
        scratch.reserve(tokens: tokens)
        return try body(scratch)
    }
}

extension ForwardScratch: @unchecked Sendable {}
