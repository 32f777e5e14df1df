import CSQLite3
import Foundation
import Synchronization

/// The threads of this process, by name: ScopePilot names its own (`scopepilot-*`, `zmq-*`) and
/// libzmq names its context's (`ZMQbg/*`).
struct ThreadCensus: Sendable {
    /// Every thread's name.
    let all: [String]
    /// The names of ScopePilot's and libzmq's threads, sorted.
    var names: [String] { all.filter(Self.isOurs).sorted() }
    /// How many of them.
    var named: Int { names.count }
    /// Every thread.
    var total: Int { all.count }

    static func isOurs(_ name: String) -> Bool {
        name.hasPrefix("scopepilot") || name.hasPrefix("zmq-") || name.hasPrefix("ZMQbg")
    }

    /// Reads /proc/self/task.
    static func now() throws -> ThreadCensus {
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")
        let names = tasks.compactMap { task in
            (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return ThreadCensus(all: names)
    }

    /// The census once threads that are ending have ended: waits (up to 10 s) until no more of ours
    /// run than in `target`, or, without a target, until the count holds still for half a second.
    static func settled(atMost target: ThreadCensus?) async throws -> ThreadCensus {
        let deadline = ContinuousClock.now + .seconds(10)
        var census = try now()
        var previous = -1
        while ContinuousClock.now < deadline {
            if let target, census.named <= target.named { return census }
            if target == nil && census.named == previous { return census }
            previous = census.named
            try await Task.sleep(for: .milliseconds(500))
            census = try now()
        }
        return census
    }
}

/// Another program holding a decision log's write lock: a plain SQLite connection in an exclusive
/// transaction.
final class SQLiteLocker: Sendable {
    private let path: String
    // The connection handle, behind a Mutex: `lock` runs on a task, `unlock` on the test's.
    private let handle = Mutex<SQLiteHandle?>(nil)

    /// The raw handle.
    struct SQLiteHandle: @unchecked Sendable {
        // @unchecked Sendable: used only while the Mutex above is held.
        let pointer: OpaquePointer
    }

    init(path: String) { self.path = path }

    /// Opens the file and begins an exclusive transaction.
    func lock() {
        handle.withLock { held in
            guard held == nil else { return }
            var db: OpaquePointer?
            guard sqlite3_open(path, &db) == SQLITE_OK, let db else { return }
            sqlite3_exec(db, "BEGIN EXCLUSIVE", nil, nil, nil)
            held = SQLiteHandle(pointer: db)
        }
    }

    /// Ends the transaction and closes the connection.
    func unlock() {
        handle.withLock { held in
            guard let db = held?.pointer else { return }
            sqlite3_exec(db, "ROLLBACK", nil, nil, nil)
            sqlite3_close(db)
            held = nil
        }
    }
}
