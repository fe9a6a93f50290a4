/// A Prometheus histogram's state: cumulative-on-render bucket counts, sum and count.
struct Histogram: Sendable {
    let bounds: [Double]
    private(set) var counts: [Int]
    private(set) var sum = 0.0
    private(set) var count = 0

    init(bounds: [Double]) {
        self.bounds = bounds
        self.counts = Array(repeating: 0, count: bounds.count)
    }

    mutating func observe(_ value: Double) {
        if let i = bounds.firstIndex(where: { value <= $0 }) { counts[i] += 1 }
        sum += value
        count += 1
    }

    /// (upper bound, cumulative count) per bucket, without +Inf.
    var cumulative: [(Double, Int)] {
        var running = 0
        return zip(bounds, counts).map { bound, c in
            running += c
            return (bound, running)
        }
    }

    static let latencyBounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]
    static let batchBounds: [Double] = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64]
    static let stepTokenBounds: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    static let stepBounds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
    static let interTokenBounds = [0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5]
    static let firstTokenBounds = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60]
}
