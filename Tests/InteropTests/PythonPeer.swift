import Foundation
import ScopePilotTestSupport
import Synchronization
import Testing

/// A Python program started for a test: its stdout lines as they come, its stderr kept for the
/// failure message, and termination when the test is done.
final class PythonPeer: Sendable {
    private let process: Process
    private let lines = Lines()
    private let stderrURL: URL

    /// The repository root.
    static var repository: URL { TestPython.repository }

    struct PeerError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// Starts `script` (a path relative to the repository) with `arguments`.
    init(script: String, arguments: [String]) throws {
        process = Process()
        process.executableURL = try TestPython.interpreter
        process.arguments = ["-u", Self.repository.appendingPathComponent(script).path] + arguments
        stderrURL = FileManager.default.temporaryDirectory.appendingPathComponent(
            "scopepilot-peer-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        let pipe = Pipe()
        process.standardOutput = pipe
        let lines = self.lines
        // Read stdout on a plain thread: a blocking read must not sit on Swift's cooperative pool.
        let reader = pipe.fileHandleForReading
        Thread.detachNewThread {
            var buffer = Data()
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                while let newline = buffer.firstIndex(of: 10) {
                    let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                    buffer.removeSubrange(buffer.startIndex...newline)
                    lines.append(line)
                }
            }
        }
        try process.run()
    }

    deinit {
        if process.isRunning { process.terminate() }
        try? FileManager.default.removeItem(at: stderrURL)
    }

    /// What the program wrote to stderr so far.
    var stderr: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }

    /// The next stdout line parsed as a JSON object, waiting up to `timeout`.
    func nextJSON(timeout: Duration = .seconds(30)) async throws -> [String: Any] {
        let end = ContinuousClock.now + timeout
        while ContinuousClock.now < end {
            if let line = lines.next() {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                    throw PeerError("the Python peer printed a line that is not a JSON object: \(line)\n\(stderr)")
                }
                return object
            }
            if !process.isRunning && lines.isEmpty {
                try await Task.sleep(for: .milliseconds(100))
                if lines.isEmpty {
                    throw PeerError("the Python peer exited (status \(process.terminationStatus)):\n\(stderr)")
                }
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw PeerError("no output from the Python peer within \(timeout):\n\(stderr)")
    }

    /// Waits for the program to exit and returns its status.
    func exitStatus(timeout: Duration = .seconds(60)) async throws -> Int32 {
        let end = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < end else {
                process.terminate()
                throw PeerError("the Python peer did not finish within \(timeout):\n\(stderr)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }
}

/// Lines read from a peer's stdout, shared between the reading thread and the test.
private final class Lines: Sendable {
    private let lines = Mutex<[String]>([])

    func append(_ line: String) { lines.withLock { $0.append(line) } }
    func next() -> String? { lines.withLock { $0.isEmpty ? nil : $0.removeFirst() } }
    var isEmpty: Bool { lines.withLock { $0.isEmpty } }
}
