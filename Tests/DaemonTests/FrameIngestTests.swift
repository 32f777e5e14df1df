import DaemonAnalysis
import DecisionLog
import Foundation
import Logging
import Testing
import Transport
import WireProtocol

@testable import Daemon

@Suite("Frame ingest")
struct FrameIngestTests {
    static func frame(_ seq: UInt64, session: String = "drv-test", nan: Bool = false) -> Frame {
        let header = FrameHeader(
            session: session, seq: seq, time: .init(start: 1, end: 2),
            scan: ScanGeometry(centerX: 0, centerY: 0, fovX: 4, width: 8, height: 8, dwell: 1),
            stage: StagePosition(x: 0, y: 0), channels: ["HAADF"], dtype: .float32)
        var pixels = (0..<64).map { Float($0) }
        if nan { pixels[5] = .nan }
        return try! Frame(header: header, channels: [try! PixelBuffer(float32: pixels, width: 8, height: 8)])
    }

    /// A publisher and a subscriber whose subscription has reached it.
    static func feed(
        _ context: ZMQContext, options: SocketOptions = FeedSubscriber.defaultOptions
    ) async throws -> (FeedPublisher, FeedSubscriber) {
        let publisher = try await FeedPublisher(bindingTo: try Endpoint("tcp://127.0.0.1:*"), context: context)
        let subscriber = try await FeedSubscriber(
            connectingTo: publisher.endpoint, context: context, options: options)
        var warmed = false
        for seq in 0..<200 where !warmed {
            try await publisher.publish(Self.frame(UInt64(seq), session: "warm-up"))
            if let event = try? await subscriber.next(timeout: .milliseconds(20)), case .frame = event { warmed = true }
        }
        while let _ = try? await subscriber.next(timeout: .milliseconds(50)) {}
        return (publisher, subscriber)
    }

    /// A session in a fresh log, and its writer.
    static func sessionLog() async throws -> (SessionLog, DecisionLog, String) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ingest-\(UUID()).sqlite").path
        let log = try DecisionLog(path: path)
        try await log.beginSession(SessionRecord(id: "s", policy: "tests", policyVersion: "1"))
        return (SessionLog(log: log, session: "s", logger: Logger(label: "tests")), log, path)
    }

    @Test("slow analysis: every frame is logged once, analysis gets the newest, skips are counted, memory bounded")
    func slowAnalysis() async throws {
        let context = try ZMQContext()
        let (publisher, subscriber) = try await Self.feed(context)
        let (sessionLog, log, path) = try await Self.sessionLog()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (frames, framesIn) = AsyncStream.makeStream(of: ReceivedFrame.self, bufferingPolicy: .bufferingNewest(2))
        let inbox = Mailbox<DecisionInput>()
        let board = StatusBoard(onChange: nil)
        let ingest = FrameIngest(
            subscriber: subscriber, log: sessionLog, analysis: framesIn, capacity: 2, decisions: inbox, board: board,
            metrics: DaemonMetrics(), logger: Logger(label: "tests"))
        let over = StopSignal()
        let (resent, _) = AsyncStream.makeStream(of: ResentDelivery.self)
        let total = 40
        var analysed: [UInt64] = []
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await ingest.run(resent: resent, until: over) }
            for seq in 0..<total { try? await publisher.publish(Self.frame(UInt64(seq), nan: seq == 7)) }
            for await frame in frames {
                analysed.append(frame.frame.header.seq)
                if frame.frame.header.seq == UInt64(total - 1) { over.fire() }
                try? await Task.sleep(for: .milliseconds(30))  // analysis slower than the feed
            }
        }
        let status = board.snapshot
        #expect(try log.count("frames") == total - 1, "every valid frame is logged")
        #expect(try log.count("rejected_inputs") == 1, "the NaN frame is refused and logged")
        #expect(status.framesReceived == total - 1)
        #expect(status.rejected == 1)
        #expect(analysed.count + status.framesSkipped == status.framesReceived)
        #expect(status.framesSkipped > 0 && status.mostWaiting <= 2, "\(status)")
        #expect(analysed == analysed.sorted(), "analysis sees frames in order")
        await subscriber.close()
        await publisher.close()
    }

    @Test("duplicated, out-of-order and re-sent copies of a frame are logged once and analysed once")
    func everyFrameOnce() async throws {
        let context = try ZMQContext()
        let (publisher, subscriber) = try await Self.feed(context)
        let (sessionLog, log, path) = try await Self.sessionLog()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (frames, framesIn) = AsyncStream.makeStream(of: ReceivedFrame.self, bufferingPolicy: .bufferingNewest(64))
        let inbox = Mailbox<DecisionInput>()
        let ingest = FrameIngest(
            subscriber: subscriber, log: sessionLog, analysis: framesIn, capacity: 64, decisions: inbox,
            board: StatusBoard(onChange: nil), metrics: DaemonMetrics(), logger: Logger(label: "tests"))
        let over = StopSignal()
        let (resent, resentIn) = AsyncStream.makeStream(of: ResentDelivery.self)
        var analysed: [UInt64] = []
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await ingest.run(resent: resent, until: over) }
            // 0, 1, 3 (2 late), 2, 3 again, 4; then re-sent copies of 2 and 4 and a new 5.
            for seq: UInt64 in [0, 1, 3, 2, 3, 4] { try? await publisher.publish(Self.frame(seq)) }
            try? await Task.sleep(for: .milliseconds(300))
            for seq: UInt64 in [2, 4, 5] {
                var frame = Self.frame(seq)
                frame.header.resent = true
                resentIn.yield(.frame(frame, inReplyTo: CommandID("d1")))
            }
            try? await Task.sleep(for: .milliseconds(300))
            over.fire()
            for await frame in frames { analysed.append(frame.frame.header.seq) }
        }
        #expect(try log.count("frames") == 6)
        #expect(analysed.sorted() == [0, 1, 2, 3, 4, 5], "\(analysed)")
        var gaps: [ClosedRange<UInt64>] = []
        while let input = inbox.poll() { if case .gap(_, let missing) = input { gaps.append(missing) } }
        #expect(gaps == [2...2], "the late frame is a gap until it comes")
        await subscriber.close()
        await publisher.close()
    }

    @Test(
        "a feed ZeroMQ dropped for good (a part over the size limit) is connected again once frames come only re-sent")
    func silentFeedIsReconnected() async throws {
        let context = try ZMQContext()
        let (publisher, subscriber) = try await Self.feed(context, options: FeedSubscriber.options(largestSide: 64))
        let (sessionLog, log, path) = try await Self.sessionLog()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (frames, framesIn) = AsyncStream.makeStream(of: ReceivedFrame.self, bufferingPolicy: .bufferingNewest(64))
        let ingest = FrameIngest(
            subscriber: subscriber, log: sessionLog, analysis: framesIn, capacity: 64, decisions: Mailbox(),
            board: StatusBoard(onChange: nil), metrics: DaemonMetrics(), logger: Logger(label: "tests"),
            silentFeedAfter: .milliseconds(300))
        let over = StopSignal()
        let (resent, resentIn) = AsyncStream.makeStream(of: ResentDelivery.self)
        var lastFeedSeq: UInt64 = 0
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await ingest.run(resent: resent, until: over) }
            try? await publisher.publish(Self.frame(0))
            var parts = try! FrameCodec.encode(Self.frame(1))
            parts[2] = [UInt8](repeating: 0, count: 33 << 20)
            try? await publisher.publish(parts: parts)
            try? await Task.sleep(for: .milliseconds(500))
            // The driver re-sends what the feed no longer brings; after three, ingest reconnects.
            for seq: UInt64 in 1...UInt64(FrameIngest.silentFeedLimit) {
                var frame = Self.frame(seq)
                frame.header.resent = true
                resentIn.yield(.frame(frame, inReplyTo: CommandID("d\(seq)")))
            }
            // Frames on the feed again: published until one is logged (or give up after 4 s).
            for seq in UInt64(10)..<UInt64(170) {
                try? await publisher.publish(Self.frame(seq))
                try? await Task.sleep(for: .milliseconds(25))
                lastFeedSeq = seq
                if (try? log.count("frames")) ?? 0 > 4 { break }
            }
            over.fire()
            for await _ in frames {}
        }
        let logged = try log.query("SELECT seq FROM frames ORDER BY seq", arguments: []).column("seq")
            .compactMap { $0.flatMap { UInt64($0) } }
        #expect(Array(logged.prefix(4)) == [0, 1, 2, 3], "\(logged)")
        #expect(
            logged.contains { $0 >= 10 }, "no frame came on the feed after reconnecting (sent up to \(lastFeedSeq))")
        await subscriber.close()
        await publisher.close()
    }

    @Test("a valid frame after a malformed message that claimed its seq is still logged; refusals are bounded")
    func malformedThenValid() async throws {
        let context = try ZMQContext()
        let (publisher, subscriber) = try await Self.feed(context)
        let (sessionLog, log, path) = try await Self.sessionLog()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (frames, framesIn) = AsyncStream.makeStream(of: ReceivedFrame.self, bufferingPolicy: .bufferingNewest(64))
        let ingest = FrameIngest(
            subscriber: subscriber, log: sessionLog, analysis: framesIn, capacity: 64, decisions: Mailbox(),
            board: StatusBoard(onChange: nil), metrics: DaemonMetrics(), logger: Logger(label: "tests"))
        let over = StopSignal()
        let (resent, _) = AsyncStream.makeStream(of: ResentDelivery.self)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await ingest.run(resent: resent, until: over) }
            try? await publisher.publish(Self.frame(0))
            // Frame 2's header with a pixel part of the wrong size, a 5 MB field, and 50 copies of it.
            var parts = try! FrameCodec.encode(Self.frame(2))
            var header = try! JSONSerialization.jsonObject(with: Data(parts[1].bytes)) as! [String: Any]
            header["note"] = String(repeating: "x", count: 5_000_000)
            parts[1] = Array(try! JSONSerialization.data(withJSONObject: header))
            parts[2] = [UInt8](repeating: 0, count: 7)
            for _ in 0..<50 { try? await publisher.publish(parts: parts) }
            // Then the real frames 2 and 1, out of order.
            try? await publisher.publish(Self.frame(2))
            try? await publisher.publish(Self.frame(1))
            try? await Task.sleep(for: .milliseconds(500))
            over.fire()
            for await _ in frames {}
        }
        #expect(try log.count("frames") == 3, "0, 1 and 2 are each logged once")
        let errors = try log.query("SELECT LENGTH(error), LENGTH(detail) FROM rejected_inputs", arguments: [])
        #expect(errors.rows.count < 50, "identical refusals are counted, not each written: \(errors.rows.count) rows")
        for row in errors.rows {
            #expect((row[0].flatMap { Int($0) } ?? 0) <= SessionLog.keptCharacters + 100, "\(row)")
            #expect((row[1].flatMap { Int($0) } ?? 0) <= SessionLog.keptCharacters + 100, "\(row)")
        }
        await subscriber.close()
        await publisher.close()
    }
}
