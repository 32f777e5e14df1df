import Foundation
import Synchronization
import WireProtocol

/// What the live view shows of the running session, written by the log follower and the
/// daemon's status, read by every connected page. Writers never wait for readers: a change
/// wakes each page's stream, which keeps only the newest wake-up, so a slow or stuck browser
/// skips updates and the session is never held up.
final class LiveSession: Sendable {
    /// A region the session scanned: its scan centre and field of view, sample coordinates (nm).
    struct Region: Equatable {
        var frame: Int64
        var seq: Int
        var x: Double
        var y: Double
        var fovX: Double
        var fovY: Double
        var dose: Double?
    }

    /// A detection on the stage map.
    struct Mark: Equatable {
        var x: Double
        var y: Double
        var type: String
    }

    /// The chip grid of a frame, in its pixels.
    struct ChipGrid: Equatable {
        var originX: Double
        var originY: Double
        var chip: Double
        var stride: Double
        var columns: Int
    }

    /// The newest frame with its analysis.
    struct Frame: Equatable {
        var id: Int64
        var seq: Int
        var width: Int
        var height: Int
        var fov: Double
        var dose: Double?
        var model: String?
        var analysed: Bool
        /// Detections in frame pixels: column, row, type.
        var detections: [Detection] = []
        var grid: ChipGrid?
        /// Chips with a community: chip index (row-major in the grid), community.
        var communities: [[Int]] = []
    }

    /// A detection in frame pixels.
    struct Detection: Equatable {
        var column: Double
        var row: Double
        var type: String
    }

    /// One of the newest decisions.
    struct Decision: Equatable {
        var id: Int64
        var time: Double
        var action: String
        var summary: String
        var reason: String
        var refused: Bool
        var status: String?
        var error: String?
    }

    /// The session's status line, from the daemon.
    struct Status: Equatable {
        var phase: String
        var session: String?
        var frames: Int
        var analysed: Int
        var skipped: Int
        var refused: Int
        var decisions: Int
        var commands: Int
        var commandsFailed: Int
        var defects: Int
        var communities: Int
        var retrains: Int
        var drift: (vx: Double, vy: Double)?
        var latencyP50: Double?
        var line: String
        var ending: String?

        static func == (a: Status, b: Status) -> Bool {
            a.phase == b.phase && a.session == b.session && a.frames == b.frames && a.analysed == b.analysed
                && a.skipped == b.skipped && a.refused == b.refused && a.decisions == b.decisions
                && a.commands == b.commands && a.commandsFailed == b.commandsFailed && a.defects == b.defects
                && a.communities == b.communities && a.retrains == b.retrains && a.drift?.vx == b.drift?.vx
                && a.drift?.vy == b.drift?.vy && a.latencyP50 == b.latencyP50 && a.line == b.line
                && a.ending == b.ending
        }
    }

    /// Everything shown, with a version that grows with every change.
    struct State {
        var version = 0
        var status: Status?
        /// Regions and marks kept (the oldest are dropped beyond the caps; `...Dropped` counts them,
        /// so that a page's position in each list stays an absolute index).
        var regions: [Region] = []
        var regionsDropped = 0
        var marks: [Mark] = []
        var marksDropped = 0
        var frame: Frame?
        var decisions: [Decision] = []
        var closed = false
    }

    /// Most regions and detection marks kept for the map: a day-long session must not grow the
    /// daemon's memory without bound (the report draws the whole session from the log).
    static let regionCap = 100_000
    static let markCap = 50_000
    /// Most list items one message carries; a page that joins late catches up over a few messages.
    static let itemsPerMessage = 5_000

    private let state = Mutex(State())
    private let watchers = Mutex<(next: Int, streams: [Int: AsyncStream<Void>.Continuation])>((0, [:]))

    /// The state now.
    var snapshot: State { state.withLock { $0 } }

    /// Changes the state and wakes every page.
    func update(_ body: (inout State) -> Void) {
        let changed = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            body(&state)
            if state.regions.count > Self.regionCap {
                let excess = state.regions.count - Self.regionCap
                state.regions.removeFirst(excess)
                state.regionsDropped += excess
            }
            if state.marks.count > Self.markCap {
                let excess = state.marks.count - Self.markCap
                state.marks.removeFirst(excess)
                state.marksDropped += excess
            }
            state.version += 1
            return true
        }
        if changed { wake() }
    }

    /// A stream that yields whenever the state changed (at once for the first time), keeping only
    /// the newest wake-up; it finishes when the live view closes. Call `stop` when done with it.
    func watch() -> (changes: AsyncStream<Void>, stop: @Sendable () -> Void) {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let closed = state.withLock { $0.closed }
        continuation.yield()
        if closed {
            continuation.finish()
            return (stream, {})
        }
        let id = watchers.withLock { watchers -> Int in
            let id = watchers.next
            watchers.next += 1
            watchers.streams[id] = continuation
            return id
        }
        return (stream, { [weak self] in self?.unwatch(id) })
    }

    /// Pages watching now.
    var watching: Int { watchers.withLock { $0.streams.count } }

    /// Ends every page's stream after its last message; later changes are ignored.
    func close() {
        state.withLock { state in
            state.closed = true
            state.version += 1
        }
        let streams = watchers.withLock { watchers in
            defer { watchers.streams = [:] }
            return Array(watchers.streams.values)
        }
        for stream in streams {
            stream.yield()
            stream.finish()
        }
    }

    private func unwatch(_ id: Int) {
        let stream = watchers.withLock { $0.streams.removeValue(forKey: id) }
        stream?.finish()
    }

    private func wake() {
        for stream in watchers.withLock({ Array($0.streams.values) }) { stream.yield() }
    }
}

/// Where one page is in the session's lists.
struct LiveCursor {
    var regions = 0
    var marks = 0
    var version = -1
}

extension LiveSession {
    /// The next message for a page at `cursor` (JSON), moving the cursor past what it carries;
    /// nil when nothing changed since the page's last message. `more` says the lists hold
    /// further items the next message will carry.
    func message(_ cursor: inout LiveCursor) -> (json: [UInt8], more: Bool)? {
        let state = snapshot
        guard
            state.version != cursor.version || cursor.regions < state.regionsDropped + state.regions.count
                || cursor.marks < state.marksDropped + state.marks.count
        else { return nil }
        cursor.version = state.version
        let (regions, regionsFrom, regionsMore) = Self.slice(
            state.regions, dropped: state.regionsDropped, from: &cursor.regions)
        let (marks, marksFrom, marksMore) = Self.slice(state.marks, dropped: state.marksDropped, from: &cursor.marks)
        var object: [String: Any] = [
            "version": state.version,
            "closed": state.closed,
            "regions": [
                "from": regionsFrom,
                "items": regions.map { r -> [Any] in
                    [Int(r.frame), r.seq, r.x, r.y, r.fovX, r.fovY, r.dose.map { $0 as Any } ?? NSNull()]
                },
            ] as [String: Any],
            "marks": ["from": marksFrom, "items": marks.map { m -> [Any] in [m.x, m.y, m.type] }] as [String: Any],
            "decisions": state.decisions.map(Self.json),
        ]
        if let status = state.status { object["status"] = Self.json(status) }
        if let frame = state.frame { object["frame"] = Self.json(frame) }
        return (JSONWriter.data(Self.finite(object)) ?? Array("{}".utf8), regionsMore || marksMore)
    }

    private static func slice<T>(_ items: [T], dropped: Int, from start: inout Int) -> ([T], Int, Bool) {
        let first = max(start, dropped) - dropped
        let end = min(items.count, first + itemsPerMessage)
        let from = first + dropped
        start = end + dropped
        return (first < end ? Array(items[first..<end]) : [], from, end < items.count)
    }

    private static func json(_ s: Status) -> [String: Any] {
        var object: [String: Any] = [
            "phase": s.phase, "frames": s.frames, "analysed": s.analysed, "skipped": s.skipped,
            "refused": s.refused, "decisions": s.decisions, "commands": s.commands,
            "commands_failed": s.commandsFailed, "defects": s.defects, "communities": s.communities,
            "retrains": s.retrains, "line": s.line,
        ]
        if let session = s.session { object["session"] = session }
        if let drift = s.drift { object["drift_nm_per_s"] = [drift.vx, drift.vy] }
        if let p50 = s.latencyP50 { object["latency_p50_ms"] = p50 }
        if let ending = s.ending { object["ending"] = ending }
        return object
    }

    private static func json(_ f: Frame) -> [String: Any] {
        var object: [String: Any] = [
            "id": Int(f.id), "seq": f.seq, "width": f.width, "height": f.height, "fov_nm": f.fov,
            "analysed": f.analysed,
            "detections": f.detections.map { d -> [Any] in [d.column, d.row, d.type] },
            "communities": f.communities,
        ]
        if let dose = f.dose { object["dose_e_per_A2"] = dose }
        if let model = f.model { object["model"] = model }
        if let g = f.grid {
            object["grid"] =
                [
                    "origin_x_px": g.originX, "origin_y_px": g.originY, "chip_px": g.chip, "stride_px": g.stride,
                    "columns": g.columns,
                ] as [String: Any]
        }
        return object
    }

    private static func json(_ d: Decision) -> [String: Any] {
        var object: [String: Any] = [
            "id": Int(d.id), "time": d.time, "action": d.action, "summary": d.summary, "reason": d.reason,
            "refused": d.refused,
        ]
        if let status = d.status { object["status"] = status }
        if let error = d.error { object["error"] = error }
        return object
    }

    /// `value` with every non-finite number replaced by null (JSON has no NaN).
    private static func finite(_ value: Any) -> Any {
        switch value {
        case let number as Double: return number.isFinite ? number : NSNull()
        case let object as [String: Any]: return object.mapValues(finite)
        case let array as [Any]: return array.map(finite)
        default: return value
        }
    }
}
