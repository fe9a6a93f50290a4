import Foundation
import Synchronization

/// The threads that answer requests: at most `maxThreads`, started as work arrives and kept
/// (waiting) afterwards; work beyond them waits in order. A burst of requests (a thousand scrapes
/// whose clients then reset) costs queued closures, not a thousand threads.
final class RequestPool: @unchecked Sendable {
    let maxThreads: Int
    private let condition = NSCondition()
    private var queue: [() -> Void] = []
    private var head = 0
    private var threads = 0
    private var idle = 0

    init(maxThreads: Int) {
        precondition(maxThreads >= 1)
        self.maxThreads = maxThreads
    }

    /// Queues `work`; a waiting thread takes it, or a new one while under `maxThreads`.
    func submit(_ work: @escaping () -> Void) {
        condition.lock()
        queue.append(work)
        let startThread = idle == 0 && threads < maxThreads
        if startThread { threads += 1 }
        condition.signal()
        condition.unlock()
        if startThread {
            let thread = Thread { [self] in run() }
            thread.stackSize = 1 << 20
            thread.name = "memory3-request"
            thread.start()
        }
    }

    /// Threads started so far (they stay).
    var threadCount: Int { condition.withLock { threads } }
    /// Work waiting for a thread.
    var waiting: Int { condition.withLock { queue.count - head } }

    private func run() {
        while true {
            condition.lock()
            idle += 1
            while head == queue.count { condition.wait() }
            idle -= 1
            let work = queue[head]
            head += 1
            if head > 1024, head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
            condition.unlock()
            work()
        }
    }
}
