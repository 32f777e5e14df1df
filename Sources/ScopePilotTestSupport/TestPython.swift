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
    public static func run(_ program: String) async throws -> String {
        let result = try await TestProcess.run(try interpreter, ["-c", program])
        guard result.status == 0 else {
            throw Failure(description: "python exited \(result.status): \(result.stderr)")
        }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
