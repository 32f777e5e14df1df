import ArgumentParser
import ChildProcess
import Foundation

/// A peer script in Benchmarks/peers, run with the benchmark's Python; it prints one JSON object.
enum PythonPeer {
    /// Runs `script` with `arguments` and returns its JSON object, or throws with `requirement`
    /// (what the Python needs) in the message.
    static func run(
        python: String, script: String, arguments: [String], requirement: String
    ) async throws -> [String: Any] {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("peers/\(script)").path
        let result = try await ChildProcess.run(URL(fileURLWithPath: python), [path] + arguments)
        guard result.exit == .exited(0),
            let object = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        else {
            throw ValidationError(
                "the peer \(script) failed (\(python) needs \(requirement): make bench installs it)\n\(result.stderr)")
        }
        return object
    }
}
