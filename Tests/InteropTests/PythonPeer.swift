import ChildProcess
import Foundation
import ScopePilotTestSupport
import Testing

/// A Python program started for a test: its stdout lines as they come, its stderr kept for the
/// failure message. It starts with a clean signal mask, is told this test process's pid so that it
/// stops if the tests die, and is terminated when the test lets go of it.
final class PythonPeer: Sendable {
    private let child: ChildProcess

    /// The repository root.
    static var repository: URL { TestPython.repository }

    struct PeerError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// Starts `script` (a path relative to the repository) with `arguments`; `parentAware` scripts
    /// also get `--parent-pid`.
    init(script: String, arguments: [String], parentAware: Bool = true) async throws {
        let parent = parentAware ? ["--parent-pid", "\(ProcessInfo.processInfo.processIdentifier)"] : []
        child = try await ChildProcess(
            try TestPython.interpreter,
            ["-u", Self.repository.appendingPathComponent(script).path] + arguments + parent)
    }

    deinit { child.send(SIGTERM) }

    /// What the program wrote to stderr so far.
    var stderr: String { child.standardError }

    /// The process id.
    var pid: Int32 { child.pid }

    /// The next stdout line parsed as a JSON object, waiting up to `timeout`.
    func nextJSON(timeout: Duration = .seconds(30)) async throws -> [String: Any] {
        guard let line = await child.nextLine(timeout: timeout) else {
            // Its output ended: let it finish, so that what it said on stderr is all there.
            if let exit = await child.waitForExit(timeout: .seconds(3)) {
                throw PeerError("the Python peer \(exit):\n\(stderr)")
            }
            throw PeerError("no output from the Python peer within \(timeout):\n\(stderr)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw PeerError("the Python peer printed a line that is not a JSON object: \(line)\n\(stderr)")
        }
        return object
    }

    /// Waits for the program to exit and returns its status.
    func exitStatus(timeout: Duration = .seconds(60)) async throws -> Int32 {
        guard let exit = await child.waitForExit(timeout: timeout) else {
            await child.terminate()
            throw PeerError("the Python peer did not finish within \(timeout):\n\(stderr)")
        }
        return exit.status
    }

    /// Ends the program (SIGTERM, then SIGKILL) and returns how it ended.
    @discardableResult
    func terminate() async -> ChildProcess.Exit { await child.terminate() }
}
