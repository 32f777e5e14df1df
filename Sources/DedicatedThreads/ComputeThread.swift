import Foundation
import Synchronization

/// A serial executor with one dedicated OS thread, for an actor whose jobs compute for tens to
/// hundreds of milliseconds (the detector, segmentation, registration, retraining). Running them
/// here keeps them off Swift's cooperative thread pool, so the feed, the instrument link and the
/// log writer stay responsive while a frame is analysed.
///
/// The thread belongs to a lifetime: ``finish()`` (or the executor's release) lets it run the
/// jobs already queued and then end, so a session leaves no thread behind.
package final class ComputeThread: SerialExecutor, @unchecked Sendable {
    // @unchecked Sendable: all shared state lives in `core`, whose queue is behind a condition
    // variable's lock; `name` is immutable.
    private let core: Core
    package let name: String

    /// Starts the thread (Linux shows the first 15 bytes of `name` in /proc and in `top -H`).
    package init(name: String) {
        self.name = name
        core = Core()
        let core = self.core
        let thread = Thread { core.run(name: name) }
        thread.stackSize = 8 << 20
        thread.start()
    }

    deinit { core.finish() }

    package func enqueue(_ job: consuming ExecutorJob) {
        core.enqueue(UnownedJob(job), executor: asUnownedSerialExecutor())
    }

    package func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }

    package func checkIsolated() {
        precondition(core.isCurrent, "expected to run on \(name)")
    }

    /// Lets the thread end once the jobs already queued have run. Jobs enqueued later still run,
    /// on a thread started for them, so an actor used after its session cannot hang.
    package func finish() { core.finish() }

    /// The queue and the thread's loop; retained by the thread until the loop ends, so that it
    /// outlives the executor while jobs remain.
    private final class Core: @unchecked Sendable {
        // @unchecked Sendable: `jobs`, `finishing` and `running` are read and written only while
        // `signal` is locked; `thread` is written once by the thread itself before any job runs.
        private var jobs: [(job: UnownedJob, executor: UnownedSerialExecutor)] = []
        private var finishing = false
        private var running = true
        private let signal = NSCondition()
        private let thread = Mutex<pthread_t?>(nil)

        var isCurrent: Bool { thread.withLock { $0.map { pthread_equal($0, pthread_self()) != 0 } ?? false } }

        func enqueue(_ job: UnownedJob, executor: UnownedSerialExecutor) {
            signal.lock()
            jobs.append((job, executor))
            let restart = !running
            if restart { running = true }
            signal.signal()
            signal.unlock()
            if restart {
                let restarted = Thread { self.run(name: "scopepilot-late") }
                restarted.start()
            }
        }

        func finish() {
            signal.lock()
            finishing = true
            signal.signal()
            signal.unlock()
        }

        func run(name: String) {
            // Set from the thread itself, Foundation names the OS thread too (Linux keeps 15 bytes).
            Thread.current.name = String(name.utf8.prefix(15)) ?? "scopepilot"
            thread.withLock { $0 = pthread_self() }
            while true {
                signal.lock()
                while jobs.isEmpty && !finishing { signal.wait() }
                if jobs.isEmpty {
                    running = false
                    signal.unlock()
                    return
                }
                let next = jobs.removeFirst()
                signal.unlock()
                next.job.runSynchronously(on: next.executor)
            }
        }
    }
}
