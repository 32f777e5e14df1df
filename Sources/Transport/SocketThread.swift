import CZeroMQ
import Foundation
import Synchronization

/// A serial executor that runs one socket actor's jobs on a dedicated OS thread, and waits in
/// `zmq_poll` whenever it has no job to run.
///
/// This is how ScopePilot keeps blocking libzmq calls off Swift's cooperative thread pool: the
/// actor that owns a socket runs here, so its calls into libzmq never block a pool thread, and a
/// task waiting for a message is suspended (not blocked) until `zmq_poll` reports the socket ready.
/// An eventfd in the poll set wakes the thread when a job is enqueued or a wait is cancelled.
final class SocketThread: SerialExecutor, @unchecked Sendable {
    // @unchecked Sendable: cross-thread state (`inbox`) is behind a Mutex; `core` is touched only
    // on the dedicated thread; `thread` is written once before init returns.
    private let core: Core

    /// Starts the thread.
    init(name: String) {
        core = Core(name: name)
        core.setOwner(UnownedSerialExecutor(ordinary: self))
    }

    deinit { core.stop() }

    func enqueue(_ job: consuming ExecutorJob) {
        core.enqueue(UnownedJob(job))
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    func checkIsolated() {
        precondition(core.isCurrent, "expected to run on socket thread \(core.name)")
    }

    func isIsolatingCurrentContext() -> Bool? { core.isCurrent }

    /// Registers a waiter; call only on the thread (from the owning actor).
    func addWaiter(_ waiter: Waiter) { core.addWaiter(waiter) }

    /// Wakes every waiter on `socket` (which is about to close); call only on the thread.
    func releaseWaiters(on socket: UnsafeMutableRawPointer) { core.release(socket) }

    /// Cancels the waiter with `id`, from any thread.
    func cancelWaiter(_ id: UInt64) { core.cancel(id) }

    /// A fresh waiter id.
    func nextWaiterID() -> UInt64 { core.nextID() }

    /// Why a wait ended.
    enum Readiness: Sendable, Equatable {
        case ready
        case timedOut
        case cancelled
    }

    /// A task suspended until a socket is readable or writable.
    struct Waiter {
        let id: UInt64
        let socket: UnsafeMutableRawPointer
        let events: Int16
        let deadline: ContinuousClock.Instant?
        let continuation: CheckedContinuation<Readiness, Never>
    }

    /// The thread and its state. Retained by the thread itself, so that it outlives the executor
    /// until the loop has drained its jobs.
    private final class Core: @unchecked Sendable {
        // @unchecked Sendable: `inbox` is behind a Mutex; `waiters` and `idCounter` are used only
        // on the dedicated thread; `threadID` is set before init returns and never changes.
        struct Inbox {
            var jobs: [UnownedJob] = []
            var cancelled: [UInt64] = []
            var stopping = false
            /// The executor identity jobs run under; unowned, because the executor owns this core.
            var owner: UnownedSerialExecutor?
            /// The thread is in (or about to enter) zmq_poll and must be woken through the eventfd.
            var polling = false
        }

        let name: String
        let inbox = Mutex(Inbox())
        let wakeFD: Int32
        private var waiters: [Waiter] = []
        private let idCounter = Atomic<UInt64>(0)
        private var threadID = pthread_t()

        init(name: String) {
            self.name = name
            wakeFD = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
            precondition(wakeFD >= 0, "eventfd failed: \(String(cString: strerror(errno)))")
            let started = DispatchSemaphore(value: 0)
            let thread = Thread { [self] in
                threadID = pthread_self()
                // Visible in `top -H`, gdb and /proc; Linux keeps the first 15 bytes.
                scopepilot_name_this_thread(name)
                started.signal()
                run()
            }
            thread.stackSize = 1 << 20
            thread.start()
            started.wait()
        }

        deinit { close(wakeFD) }

        var isCurrent: Bool { pthread_equal(pthread_self(), threadID) != 0 }

        func nextID() -> UInt64 { idCounter.wrappingAdd(1, ordering: .relaxed).newValue }

        func enqueue(_ job: UnownedJob) {
            // A thread that is running jobs will see this one before it polls: no syscall needed.
            if inbox.withLock({
                $0.jobs.append(job); return $0.polling
            }) {
                wake()
            }
        }

        func cancel(_ id: UInt64) {
            if inbox.withLock({
                $0.cancelled.append(id); return $0.polling
            }) {
                wake()
            }
        }

        func setOwner(_ owner: UnownedSerialExecutor) {
            inbox.withLock { $0.owner = owner }
        }

        func stop() {
            inbox.withLock { $0.stopping = true }
            wake()
        }

        func addWaiter(_ waiter: Waiter) {
            precondition(isCurrent, "socket waits are registered on the socket's own thread (\(name))")
            waiters.append(waiter)
        }

        func release(_ socket: UnsafeMutableRawPointer) {
            precondition(isCurrent, "socket waits are released on the socket's own thread")
            resolve(where: { $0.socket == socket }, as: .ready)
        }

        private func wake() {
            var one: UInt64 = 1
            _ = write(wakeFD, &one, 8)
        }

        private func run() {
            while true {
                let (jobs, cancelled, stopping, owner) = inbox.withLock { inbox in
                    defer {
                        inbox.jobs.removeAll(keepingCapacity: true)
                        inbox.cancelled.removeAll()
                    }
                    return (inbox.jobs, inbox.cancelled, inbox.stopping, inbox.owner)
                }
                if !cancelled.isEmpty { resolve(where: { cancelled.contains($0.id) }, as: .cancelled) }
                if !jobs.isEmpty, let owner {
                    for job in jobs { job.runSynchronously(on: owner) }
                    continue
                }
                if stopping && waiters.isEmpty { return }
                // Announce the poll under the lock, so an enqueue from now on writes the eventfd;
                // one that came just before is seen here and run first.
                let idle = inbox.withLock { inbox in
                    inbox.polling = inbox.jobs.isEmpty && inbox.cancelled.isEmpty && !inbox.stopping
                    return inbox.polling
                }
                guard idle else { continue }
                poll()
                inbox.withLock { $0.polling = false }
            }
        }

        private func poll() {
            // One poll item per socket (libzmq refuses a socket twice), plus the wake-up eventfd.
            var items = [zmq_pollitem_t(socket: nil, fd: wakeFD, events: Int16(ZMQ_POLLIN), revents: 0)]
            var earliest: ContinuousClock.Instant?
            for waiter in waiters {
                if let index = items.firstIndex(where: { $0.socket == waiter.socket }) {
                    items[index].events |= waiter.events
                } else {
                    items.append(zmq_pollitem_t(socket: waiter.socket, fd: 0, events: waiter.events, revents: 0))
                }
                if let deadline = waiter.deadline { earliest = min(earliest ?? deadline, deadline) }
            }
            var timeout: Int = -1
            if let earliest {
                let remaining = earliest - .now
                let (seconds, attoseconds) = remaining.components
                timeout = max(0, Int(seconds) * 1000 + Int((attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000))
            }
            let count = zmq_poll(&items, Int32(items.count), timeout)
            if count < 0 && zmq_errno() != EINTR {
                // Only a closed socket can make zmq_poll fail here; wake its waiters so they see it.
                resolve(where: { _ in true }, as: .ready)
                return
            }
            if items[0].revents != 0 {
                var value: UInt64 = 0
                _ = read(wakeFD, &value, 8)
            }
            let now = ContinuousClock.now
            resolve(
                where: { waiter in
                    let item = items.first { $0.socket == waiter.socket }
                    return (item.map { $0.revents & waiter.events } ?? 0) != 0
                }, as: .ready)
            resolve(where: { $0.deadline.map { $0 <= now } ?? false }, as: .timedOut)
        }

        private func resolve(where matches: (Waiter) -> Bool, as readiness: Readiness) {
            var kept: [Waiter] = []
            var done: [Waiter] = []
            for waiter in waiters {
                if matches(waiter) { done.append(waiter) } else { kept.append(waiter) }
            }
            waiters = kept
            for waiter in done { waiter.continuation.resume(returning: readiness) }
        }
    }
}
