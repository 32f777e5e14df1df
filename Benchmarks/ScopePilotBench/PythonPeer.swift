import ArgumentParser
import Foundation

/// A peer script in Benchmarks/peers, run with the benchmark's Python; it prints one JSON object.
enum PythonPeer {
    /// Runs `script` with `arguments` and returns its JSON object, or throws with `requirement`
    /// (what the Python needs) in the message.
    static func run(
        python: String, script: String, arguments: [String], requirement: String
    ) throws
        -> [String: Any]
    {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("peers/\(script)").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [path] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
            let result = try? JSONSerialization.jsonObject(with: output) as? [String: Any]
        else {
            throw ValidationError("the peer \(script) failed (\(python) needs \(requirement): make bench installs it)")
        }
        return result
    }
}
