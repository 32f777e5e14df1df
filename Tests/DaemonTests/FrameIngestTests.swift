import Daemon
import Foundation
import Synchronization
import Testing
import Transport
import WireProtocol

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

    @Test("slow analysis: every frame is recorded, analysis gets the newest, skips are counted, memory bounded")
    func slowAnalysis() async throws {
        let context = try ZMQContext()
        let publisher = try await FeedPublisher(bindingTo: try Endpoint("tcp://127.0.0.1:*"), context: context)
        let subscriber = try await FeedSubscriber(connectingTo: publisher.endpoint, context: context)
        // Wait until the subscription reaches the publisher (frames before that are not delivered).
        var warmed = false
        for seq in 0..<200 where !warmed {
            try await publisher.publish(Self.frame(UInt64(seq), session: "warm-up"))
            if let event = try? await subscriber.next(timeout: .milliseconds(20)), case .frame = event { warmed = true }
        }
        while let _ = try? await subscriber.next(timeout: .milliseconds(50)) {}
        let ingest = FrameIngest(subscriber: subscriber, capacity: 2)
        let recorded = Mutex(0)
        let running = Task { await ingest.run { _ in recorded.withLock { $0 += 1 } } }
        let total = 40
        for seq in 0..<total { try await publisher.publish(Self.frame(UInt64(seq), nan: seq == 7)) }
        var analysed: [UInt64] = []
        while analysed.last != UInt64(total - 1) {
            guard let frame = await ingest.next() else { break }
            analysed.append(frame.header.seq)
            try await Task.sleep(for: .milliseconds(30))  // analysis slower than the feed
        }
        running.cancel()
        let counts = await ingest.counts
        #expect(recorded.withLock { $0 } == total, "every event reaches the log")
        #expect(counts.rejected == 1, "the NaN frame is refused and counted")
        #expect(counts.received == total - 1)
        #expect(counts.analysed + counts.skipped <= counts.received)
        #expect(counts.skipped > 0 && counts.mostWaiting <= 2, "\(counts)")
        #expect(analysed == analysed.sorted(), "analysis sees frames in order")
        await subscriber.close()
        await publisher.close()
    }
}
