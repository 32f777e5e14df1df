public import Foundation

/// Runs a program to completion for a test and collects what it printed.
public enum TestProcess {
    /// How the program ended and what it printed.
    public struct Result: Sendable {
        /// Exit status.
        public let status: Int32
        /// Standard output.
        public let stdout: String
        /// Standard error.
        public let stderr: String
    }

    /// Runs `executable` with `arguments`. Standard error is drained on its own thread while
    /// standard output is read, so a program that writes much to both cannot block on a full pipe.
    public static func run(_ executable: URL, _ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let errorReader = Thread.detachNewThreadReturning { err.fileHandleForReading.readDataToEndOfFile() }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = errorReader.wait()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }
}

extension Thread {
    /// A value computed on a new thread, collected with `wait()`.
    final class Pending<T: Sendable>: @unchecked Sendable {
        // @unchecked: `value` is written once by the worker before it signals the semaphore and read
        // only after `wait()` has seen that signal, so the semaphore orders every access.
        private var value: T?
        private let done = DispatchSemaphore(value: 0)

        fileprivate func set(_ value: T) {
            self.value = value
            done.signal()
        }

        func wait() -> T {
            done.wait()
            return value!
        }
    }

    static func detachNewThreadReturning<T: Sendable>(_ work: @escaping @Sendable () -> T) -> Pending<T> {
        let pending = Pending<T>()
        Thread.detachNewThread { pending.set(work()) }
        return pending
    }
}
