import Synchronization

/// A one-shot signal that a session must stop (SIGINT/SIGTERM, a graceful shutdown of the service
/// group, cancellation, or ``ScopePilotDaemon/requestStop()``). Every wait of the daemon races it,
/// so a stop takes effect at once in every state.
final class StopSignal: Sendable {
    private struct State {
        var fired = false
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var next: UInt64 = 0
        var handlers: [@Sendable () -> Void] = []
    }

    private let state = Mutex(State())

    /// Whether the signal has fired.
    var isFired: Bool { state.withLock { $0.fired } }

    /// Fires the signal (once; later calls do nothing).
    func fire() {
        let (waiters, handlers) = state.withLock {
            state -> ([CheckedContinuation<Void, Never>], [@Sendable () -> Void]) in
            guard !state.fired else { return ([], []) }
            state.fired = true
            defer {
                state.waiters.removeAll()
                state.handlers.removeAll()
            }
            return (Array(state.waiters.values), state.handlers)
        }
        for waiter in waiters { waiter.resume() }
        for handler in handlers { handler() }
    }

    /// Calls `handler` when the signal fires (at once if it has).
    func onFire(_ handler: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            if state.fired { return true }
            state.handlers.append(handler)
            return false
        }
        if now { handler() }
    }

    /// Returns when the signal fires, or when the calling task is cancelled.
    func wait() async {
        let id = state.withLock { state -> UInt64 in
            state.next += 1
            return state.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.fired || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }

    /// The result of `body`, or nil when the signal fires first (then `body` is cancelled).
    func unlessFired<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T? {
        if isFired { return nil }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                await self.wait()
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { return nil }
            return first
        }
    }

    /// Sleeps for `duration` unless the signal fires first; returns whether it slept the whole time.
    @discardableResult
    func sleep(for duration: Duration) async -> Bool {
        (try? await unlessFired { try await Task.sleep(for: duration) }) != nil
    }
}
