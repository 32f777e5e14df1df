import ChildProcess
public import Foundation

/// Runs a program to completion for a test and collects what it printed. The program starts with a
/// clean signal mask (``ChildProcess``) and is ended if the test's task is cancelled.
public enum TestProcess {
    /// How the program ended and what it printed.
    public struct Result: Sendable {
        /// Exit status (128 + the signal when a signal ended it).
        public let status: Int32
        /// Standard output.
        public let stdout: String
        /// Standard error.
        public let stderr: String
    }

    /// Runs `executable` with `arguments`; `variables` are added to the environment.
    public static func run(
        _ executable: URL, _ arguments: [String], variables: [String: String] = [:]
    ) async throws -> Result {
        let result = try await ChildProcess.run(executable, arguments, variables: variables)
        return Result(status: result.exit.status, stdout: result.stdout, stderr: result.stderr)
    }
}
