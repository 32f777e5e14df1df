public import Foundation

/// The Python that tests use as an independent reference (pyzmq, numpy, safetensors): the virtual
/// environment `make test` creates, or `$SCOPEPILOT_PYTHON`.
public enum TestPython {
    /// Why a Python run failed.
    public struct Failure: Error, CustomStringConvertible {
        /// What happened, with Python's own output.
        public let description: String
    }

    /// The repository root.
    public static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The interpreter, or an error that says how to get one.
    public static var interpreter: URL {
        get throws {
            if let path = ProcessInfo.processInfo.environment["SCOPEPILOT_PYTHON"] {
                return URL(fileURLWithPath: path)
            }
            let venv = repository.appendingPathComponent(".venv/bin/python")
            guard FileManager.default.isExecutableFile(atPath: venv.path) else {
                throw Failure(
                    description: "no Python for the reference tests at \(venv.path): run `make test` (it creates .venv"
                        + " from Tests/requirements.txt), or set SCOPEPILOT_PYTHON to an interpreter that has those packages"
                )
            }
            return venv
        }
    }

    /// Runs `program` with `python -c` and returns its standard output; throws with its standard
    /// error when it exits non-zero.
    @discardableResult
    public static func run(_ program: String) throws -> String {
        let process = Process()
        process.executableURL = try interpreter
        process.arguments = ["-c", program]
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(
                description: "python exited \(process.terminationStatus): \(String(decoding: stderr, as: UTF8.self))")
        }
        return String(decoding: stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
