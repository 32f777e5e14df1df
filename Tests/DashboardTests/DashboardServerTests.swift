import Daemon
import DecisionLog
import Foundation
import Logging
import ScopePilotTestSupport
import ServiceLifecycle
import Testing

@testable import Dashboard

/// A live view on a log this test writes as a session would, read over HTTP.
struct LiveViewFixture {
    let folder: URL
    let log: DecisionLog
    let server: DashboardServer
    let session = "s-live-test"

    init(address: String = "127.0.0.1:0") throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-live-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent("log.sqlite").path
        log = try DecisionLog(path: path)
        var logger = Logger(label: "live-test")
        logger.logLevel = .error
        server = DashboardServer(address: try DashboardAddress(address), database: path, logger: logger)
    }

    /// Logs frame `seq` at stage x = seq nm, analysed with `detections` defects.
    func frame(_ seq: Int, detections: Int = 0) async throws -> Int64 {
        let scan = #"{"center_x_nm":\#(seq),"center_y_nm":0,"fov_x_nm":2,"fov_y_nm":2}"#
        let id = try await log.recordFrame(
            FrameRecord(
                sessionID: session, seq: UInt64(seq), width: 64, height: 64, pixelSize: 0.3, scan: scan,
                channels: ["HAADF"], thumbnail: Data([0x89, 0x50, 0x4E, 0x47]), stageX: Double(seq), stageY: 0,
                dose: 1e4))
        try await log.recordAnalysis(
            AnalysisRecord(
                frame: id,
                detections: (0..<detections).map { i in
                    .init(x: Double(i), y: 1, type: "Se1", confidence: 0.9, stageX: Double(seq), stageY: 0)
                }, communities: [0, 0, 1, 1]))
        return id
    }

    func begin() async throws {
        _ = try await log.beginSession(SessionRecord(id: session, policy: "raster-survey", policyVersion: "1"))
        var status = DaemonStatus()
        status.session = session
        status.phase = .running
        server.show(status)
    }

    /// Runs `body` with the server listening; shuts it down gracefully after.
    func serving(_ body: (_ port: Int) async throws -> Void) async throws {
        let group = ServiceGroup(services: [server], logger: Logger(label: "live-test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var port: Int?
            for _ in 0..<500 where port == nil {
                port = server.url.flatMap { URL(string: $0)?.port }
                if port == nil { try await Task.sleep(for: .milliseconds(10)) }
            }
            do {
                try await body(try #require(port, "the live view never listened"))
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        try? FileManager.default.removeItem(at: folder)
    }

    /// `/state` until `done` holds (the follower looks every 250 ms), or the last one read.
    static func state(
        port: Int, query: String = "", until done: ([String: Any]) -> Bool
    ) async throws -> [String: Any] {
        var last: [String: Any] = [:]
        for _ in 0..<100 {
            let (status, body) = try await HTTPProbe.get(port: port, "/state" + query)
            #expect(status == 200)
            last = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
            if done(last) { return last }
            try await Task.sleep(for: .milliseconds(100))
        }
        return last
    }

    static func regionCount(_ state: [String: Any]) -> Int {
        ((state["regions"] as? [String: Any])?["items"] as? [Any])?.count ?? 0
    }
}

@Suite("The live view follows a session", .serialized)
struct DashboardServerTests {
    @Test("Regions, the newest frame with its detections and communities, decisions and status, as they are logged")
    func follows() async throws {
        let fixture = try LiveViewFixture()
        try await fixture.begin()
        try await fixture.serving { port in
            for seq in 0..<3 { _ = try await fixture.frame(seq, detections: seq) }
            _ = try await fixture.log.recordDecision(
                DecisionRecord(
                    sessionID: fixture.session, inputFrames: "[]", candidates: "[]",
                    chosen: #"{"action":"scan","summary":"scan (3, 0) nm"}"#, reason: "raster region 4",
                    policy: "raster-survey", policyVersion: "1"))
            let state = try await LiveViewFixture.state(port: port) {
                LiveViewFixture.regionCount($0) == 3 && ($0["decisions"] as? [Any])?.count == 1
            }
            #expect(LiveViewFixture.regionCount(state) == 3)
            let frame = try #require(state["frame"] as? [String: Any])
            #expect(frame["seq"] as? Int == 2)
            #expect((frame["detections"] as? [Any])?.count == 2)
            #expect((frame["communities"] as? [[Int]]) == [[0, 0], [1, 0], [2, 1], [3, 1]])
            let decision = try #require((state["decisions"] as? [[String: Any]])?.first)
            #expect(decision["reason"] as? String == "raster region 4")
            #expect((state["status"] as? [String: Any])?["session"] as? String == fixture.session)
            #expect(((state["marks"] as? [String: Any])?["items"] as? [Any])?.count == 3)

            // The thumbnail of a frame; a frame the log does not have is 404.
            let frameID = try #require(frame["id"] as? Int)
            let (thumbnailStatus, thumbnail) = try await HTTPProbe.get(port: port, "/frame/\(frameID)")
            #expect(thumbnailStatus == 200 && thumbnail.hasSuffix("PNG"), "the bytes the log kept")
            #expect(try await HTTPProbe.get(port: port, "/frame/99999").status == 404)
            // Read-only: anything but GET is refused; the page is there.
            let page = try await HTTPProbe.get(port: port, "/")
            #expect(page.status == 200 && page.body.contains("EventSource"))
        }
    }

    @Test("Server-sent events carry each region once, in order, as the session grows; the end is the last message")
    func events() async throws {
        let fixture = try LiveViewFixture()
        try await fixture.begin()
        _ = try await fixture.frame(0)
        var seen: [Int] = []
        var reader: Task<[String], any Error>?
        try await fixture.serving { port in
            let probe = try HTTPProbe(port: port)
            try probe.sendGet("/events")
            for seq in 1..<6 {
                _ = try await fixture.frame(seq)
                while seen.count < seq + 1 {
                    guard let event = try await probe.events(1).first else { break }
                    let message = try #require(
                        try JSONSerialization.jsonObject(with: Data(event.utf8)) as? [String: Any])
                    let regions = try #require(message["regions"] as? [String: Any])
                    #expect(regions["from"] as? Int == seen.count, "no region skipped or sent twice")
                    for item in regions["items"] as? [[Any]] ?? [] { seen.append(item[1] as? Int ?? -1) }
                }
            }
            // Read on through the shutdown: the stream ends after a last message that says so.
            reader = Task { try await probe.events(10_000) }
        }
        #expect(seen == Array(0..<6))
        let rest = try await #require(reader).value
        #expect(rest.last?.contains(#""closed":true"#) == true)
    }

    @Test("On an address other than loopback every request needs the token")
    func token() async throws {
        let fixture = try LiveViewFixture(address: "0.0.0.0:0")
        try await fixture.begin()
        let token = try #require(fixture.server.access.token)
        try await fixture.serving { port in
            #expect(fixture.server.url?.hasSuffix("?token=\(token)") == true)
            let refused = try await HTTPProbe.get(port: port, "/state")
            #expect(refused.status == 401 && refused.body.contains("token"))
            #expect(try await HTTPProbe.get(port: port, "/state?token=wrong").status == 401)
            #expect(try await HTTPProbe.get(port: port, "/?token=\(token)").status == 200)
            #expect(try await HTTPProbe.get(port: port, "/state?token=\(token)").status == 200)
        }
    }

    @Test("On loopback a request naming another host is refused (DNS rebinding)")
    func rebinding() async throws {
        let fixture = try LiveViewFixture()
        try await fixture.begin()
        try await fixture.serving { port in
            let elsewhere = try await HTTPProbe.get(port: port, "/state", host: "evil.example:\(port)")
            #expect(elsewhere.status == 403)
            let local = try await HTTPProbe.get(port: port, "/state", host: "localhost:\(port)")
            #expect(local.status == 200)
        }
    }

    @Test("A page that stops reading holds up neither the others nor the shutdown")
    func stuckPage() async throws {
        let fixture = try LiveViewFixture()
        try await fixture.begin()
        try await fixture.serving { port in
            let stuck = try HTTPProbe(port: port, receiveBuffer: 1024)
            try stuck.sendGet("/events")
            let healthy = try HTTPProbe(port: port)
            try healthy.sendGet("/events")
            var regions = 0
            for batch in 0..<5 {
                for seq in (batch * 200)..<((batch + 1) * 200) { _ = try await fixture.frame(seq, detections: 3) }
                while regions < (batch + 1) * 200 {
                    guard let event = try await healthy.events(1).first,
                        let message = try JSONSerialization.jsonObject(with: Data(event.utf8)) as? [String: Any]
                    else { break }
                    regions += ((message["regions"] as? [String: Any])?["items"] as? [Any])?.count ?? 0
                }
                #expect(regions == (batch + 1) * 200, "the reading page saw every region while the other was stuck")
            }
            #expect(fixture.server.pagesWatching == 2)
        }
        // Reaching here means the graceful shutdown ended with a page that never read.
    }

    @Test("A port already taken is an error that says what to do")
    func portTaken() async throws {
        let first = try LiveViewFixture()
        try await first.begin()
        try await first.serving { port in
            let second = try LiveViewFixture(address: "127.0.0.1:\(port)")
            await #expect {
                try await second.server.run()
            } throws: { error in
                "\(error)".contains("cannot listen on 127.0.0.1:\(port)") && "\(error)".contains("another port")
            }
        }
    }
}
