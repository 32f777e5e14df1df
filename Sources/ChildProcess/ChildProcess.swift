public import Foundation
import Subprocess
import Synchronization

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// A program ScopePilot or its tests start: a driver adapter, a Python peer, a policy process,
/// the `scopepilot` executable itself.
///
/// It starts with an empty signal mask and every signal at its default disposition (whatever the
/// starting thread blocks or ignores), so SIGTERM and SIGINT stop it as they should. Its standard
/// output is read as lines (``nextLine(timeout:)``), its standard error is kept (the newest 1 MiB). Whoever starts it ends
/// it: ``terminate(grace:)`` sends SIGTERM, then SIGKILL after `grace`, and waits; releasing the
/// last reference does the same without waiting.
///
/// Built on swift-subprocess, whose spawn sets the mask and the dispositions.
public final class ChildProcess: Sendable {
    /// How it ended.
    public enum Exit: Sendable, Hashable, CustomStringConvertible {
        /// It exited with this status.
        case exited(Int32)
        /// A signal ended it.
        case signalled(Int32)

        /// The exit status; 128 + the signal for a signalled one, as a shell reports it.
        public var status: Int32 {
            switch self {
            case .exited(let code): code
            case .signalled(let signal): 128 + signal
            }
        }

        public var description: String {
            switch self {
            case .exited(let code): "exited with status \(code)"
            case .signalled(let signal): "ended by signal \(signal)"
            }
        }
    }

    /// Why it could not be started.
    public struct LaunchError: Error, CustomStringConvertible {
        /// What happened.
        public let description: String
    }

    private struct State {
        var exit: Exit?
        var errorText = ""
        var waiters: [UInt64: CheckedContinuation<Exit?, Never>] = [:]
        var lines: [String] = []
        var linesEnded = false
        var lineWaiter: (id: UInt64, continuation: CheckedContinuation<String?, Never>)?
        var nextWaiter: UInt64 = 0
    }

    /// The state the supervising task and the callers share.
    private final class Shared: Sendable {
        let mutex = Mutex(State())
        func withLock<T>(_ body: (inout State) -> T) -> T { mutex.withLock { body(&$0) } }
    }

    /// The process id.
    public let pid: Int32
    private let state = Shared()
    private let supervisor: Task<Void, Never>
    private let grace: Duration
    private static let keptError = 1 << 20
    private static let longestLine = 16 << 20

    /// Starts `executable` with `arguments`, in `environment` (nil: this process's) with extra
    /// `variables` set.
    public init(
        _ executable: URL, _ arguments: [String], variables: [String: String] = [:],
        grace: Duration = .seconds(2)
    ) async throws {
        let state = self.state
        self.grace = grace
        var options = PlatformOptions()
        options.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: grace)]
        var environment = Environment.inherit
        if !variables.isEmpty {
            var overrides: [Environment.Key: String?] = [:]
            for (name, value) in variables { overrides[Environment.Key(stringLiteral: name)] = value }
            environment = environment.updating(overrides)
        }
        let started = StartSignal()
        let path = FilePath(executable.path)
        let options_ = options
        let environment_ = environment
        supervisor = Task {
            do {
                let result = try await Subprocess.run(
                    .path(path), arguments: Arguments(arguments), environment: environment_,
                    platformOptions: options_, input: .none, output: .sequence, error: .sequence
                ) { execution in
                    started.succeed(execution.processIdentifier.value)
                    await withTaskGroup(of: Void.self) { group in
                        group.addTask {
                            do {
                                // Lines up to 16 MiB (a peer's summary can be long); a longer one ends the reading.
                                for try await line in execution.standardOutput.strings(
                                    bufferingPolicy: .maxLineLength(Self.longestLine))
                                {
                                    Self.add(line, to: state)
                                }
                            } catch {
                                state.withLock { $0.errorText += "[standard output no longer read: \(error)]\n" }
                            }
                            Self.endLines(state)
                        }
                        group.addTask {
                            do {
                                for try await chunk in execution.standardError.strings() {
                                    state.withLock { state in
                                        state.errorText += chunk + "\n"
                                        if state.errorText.utf8.count > Self.keptError {
                                            state.errorText = String(state.errorText.suffix(Self.keptError / 2))
                                        }
                                    }
                                }
                            } catch {}
                        }
                    }
                }
                let exit: Exit
                switch result.terminationStatus {
                case .exited(let code): exit = .exited(code)
                case .signaled(let signal): exit = .signalled(signal)
                }
                Self.finish(state, exit)
            } catch {
                started.fail("\(error)")
                state.withLock { $0.errorText += "\(error)\n" }
                Self.finish(state, .exited(-1))
            }
            Self.endLines(state)
        }
        switch await started.wait() {
        case .success(let pid): self.pid = pid
        case .failure(let message):
            throw LaunchError(description: "cannot start \(executable.path): \(message)")
        }
    }

    deinit { supervisor.cancel() }

    private static func finish(_ state: Shared, _ exit: Exit) {
        let waiters = state.withLock { state -> [CheckedContinuation<Exit?, Never>] in
            state.exit = exit
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: exit) }
    }

    private static func add(_ line: String, to state: Shared) {
        let waiter = state.withLock { state -> CheckedContinuation<String?, Never>? in
            if let waiter = state.lineWaiter {
                state.lineWaiter = nil
                return waiter.continuation
            }
            state.lines.append(line)
            if state.lines.count > 100_000 { state.lines.removeFirst(50_000) }
            return nil
        }
        waiter?.resume(returning: line)
    }

    private static func endLines(_ state: Shared) {
        let waiter = state.withLock { state -> CheckedContinuation<String?, Never>? in
            state.linesEnded = true
            defer { state.lineWaiter = nil }
            return state.lineWaiter?.continuation
        }
        waiter?.resume(returning: nil)
    }

    /// The next line of its standard output, waiting at most `timeout` (nil: until one comes or
    /// it closes its output). Nil at the timeout or once its output has ended.
    public func nextLine(timeout: Duration? = nil) async -> String? {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        let wait: @Sendable () async -> String? = { [state] in
            await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
                let ready = state.withLock { state -> (String?, Bool) in
                    if !state.lines.isEmpty { return (state.lines.removeFirst(), true) }
                    if state.linesEnded { return (nil, true) }
                    state.lineWaiter = (id, continuation)
                    return (nil, false)
                }
                if ready.1 { continuation.resume(returning: ready.0) }
            }
        }
        guard let timeout else { return await wait() }
        return await withTaskGroup(of: String?.self) { group in
            group.addTask { await wait() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                // Still waiting: give up the wait (a line that comes later stays for the next call).
                let waiter = self.state.withLock { state -> CheckedContinuation<String?, Never>? in
                    guard let waiter = state.lineWaiter, waiter.id == id else { return nil }
                    state.lineWaiter = nil
                    return waiter.continuation
                }
                waiter?.resume(returning: nil)
                return nil
            }
            if let first = await group.next() ?? nil {
                group.cancelAll()
                return first
            }
            group.cancelAll()
            // The line that raced the timeout, if any.
            for await result in group where result != nil { return result }
            return nil
        }
    }

    /// How it ended, or nil while it runs.
    public var exit: Exit? { state.withLock { $0.exit } }

    /// Whether it still runs.
    public var isRunning: Bool { exit == nil }

    /// What it wrote to standard error so far.
    public var standardError: String { state.withLock { $0.errorText } }

    /// Sends `signal` (e.g. SIGTERM) and returns at once.
    public func send(_ signal: Int32) {
        guard isRunning else { return }
        kill(pid, signal)
    }

    /// Waits until it ends (at most `timeout`; nil: as long as it takes). Nil when it still runs.
    public func waitForExit(timeout: Duration? = nil) async -> Exit? {
        if let exit { return exit }
        guard let timeout else { return await waitUntilExit() }
        return await withTaskGroup(of: Exit?.self) { group in
            group.addTask { await self.waitUntilExit() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            // The waiter gives up when cancelled, so the group does not wait for the exit.
            group.cancelAll()
            return first ?? exit
        }
    }

    /// The exit, once it comes; nil when the waiting task is cancelled first.
    private func waitUntilExit() async -> Exit? {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Exit?, Never>) in
                let done = state.withLock { state -> Exit?? in
                    if let exit = state.exit { return .some(exit) }
                    if Task.isCancelled { return .some(nil) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let done { continuation.resume(returning: done) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(returning: nil)
        }
    }

    /// Ends it: SIGTERM, SIGKILL after the grace period given at start, and waits. Its output is
    /// read to the end meanwhile, so a program that says goodbye on stderr is heard.
    @discardableResult
    public func terminate() async -> Exit {
        send(SIGTERM)
        if await waitForExit(timeout: grace) == nil {
            send(SIGKILL)
            if await waitForExit(timeout: grace) == nil { supervisor.cancel() }
        }
        await supervisor.value
        return exit ?? .exited(-1)
    }

    /// Runs `executable` to its end and returns how it ended and what it printed.
    public static func run(
        _ executable: URL, _ arguments: [String], variables: [String: String] = [:]
    ) async throws -> (exit: Exit, stdout: String, stderr: String) {
        let child = try await ChildProcess(executable, arguments, variables: variables)
        var output: [String] = []
        while let line = await child.nextLine() { output.append(line) }
        let exit = await child.waitForExit()
        return (exit ?? .exited(-1), output.joined(separator: "\n") + (output.isEmpty ? "" : "\n"), child.standardError)
    }
}

/// The pid of a child, handed from the task that spawns it to the caller waiting for it.
private final class StartSignal: Sendable {
    enum Outcome: Sendable {
        case success(Int32)
        case failure(String)
    }

    private struct State {
        var outcome: Outcome?
        var waiter: CheckedContinuation<Outcome, Never>?
    }

    private let state = Mutex(State())

    func succeed(_ pid: Int32) { settle(.success(pid)) }
    func fail(_ message: String) { settle(.failure(message)) }

    private func settle(_ outcome: Outcome) {
        let waiter = state.withLock { state -> CheckedContinuation<Outcome, Never>? in
            guard state.outcome == nil else { return nil }
            state.outcome = outcome
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: outcome)
    }

    func wait() async -> Outcome {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Outcome? in
                if let outcome = state.outcome { return outcome }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
