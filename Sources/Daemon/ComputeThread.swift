import Foundation
import Synchronization

/// A serial executor with one dedicated OS thread, for an actor whose jobs compute for tens to
/// hundreds of milliseconds (the detector, segmentation, registration). Running them here keeps
/// them off Swift's cooperative thread pool, so the feed, the instrument link and the log writer
/// stay responsive while a frame is analysed.
final class ComputeThread: SerialExecutor, @unchecked Sendable {
    // @unchecked Sendable: the job queue is behind a Mutex and a condition variable; the thread
    // handle is written once in init.
    private struct Queue {
        var jobs: [UnownedJob] = []
        var head = 0
    }

    private let queue = Mutex(Queue())
    private let signal = NSCondition()
    private let name: String
    private let key = ThreadKey()

    /// Starts the thread.
    init(name: String) {
        self.name = name
        // The thread keeps the executor alive: one per daemon, idle in a condition wait when unused.
        let thread = Thread { self.loop() }
        thread.name = name
        thread.stackSize = 8 << 20
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        signal.lock()
        queue.withLock { $0.jobs.append(job) }
        signal.signal()
        signal.unlock()
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }

    func checkIsolated() {
        precondition(Thread.current.threadDictionary[key.name] != nil, "expected to run on \(name)")
    }

    private func loop() {
        Thread.current.threadDictionary[key.name] = true
        let executor = asUnownedSerialExecutor()
        while true {
            signal.lock()
            var job: UnownedJob?
            while job == nil {
                job = queue.withLock { queue -> UnownedJob? in
                    guard queue.head < queue.jobs.count else {
                        queue.jobs.removeAll(keepingCapacity: true)
                        queue.head = 0
                        return nil
                    }
                    defer { queue.head += 1 }
                    return queue.jobs[queue.head]
                }
                if job == nil { signal.wait() }
            }
            signal.unlock()
            job!.runSynchronously(on: executor)
        }
    }

    /// A thread-dictionary key unique to this executor.
    private struct ThreadKey {
        let name = "scopepilot.compute.\(UInt64.random(in: 0...UInt64.max))"
    }
}
