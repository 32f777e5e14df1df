import Foundation
import Testing
import Transport
import WireProtocol

@Suite("Frame feed over tcp loopback")
struct FeedTests {
    @Test("frames arrive decoded, and a gap in seq is reported with the missing range")
    func gapDetection() async throws {
        let context = try ZMQContext()
        let publisher = try await FeedPublisher(bindingTo: loopback, context: context)
        let subscriber = try await FeedSubscriber(connectingTo: publisher.endpoint, context: context)
        try await waitUntilSubscribed(publisher, subscriber)

        for seq: UInt64 in [0, 1, 2, 5, 6, 3] {
            try await publisher.publish(testFrame(seq: seq))
        }
        var observations: [SequenceTracker.Observation] = []
        for _ in 0..<6 {
            guard case .frame(let frame, let observation) = try await subscriber.next(timeout: .seconds(5)) else {
                Issue.record("expected a frame")
                return
            }
            #expect(frame.channels[0].floats() == (0..<32).map(Float.init))
            observations.append(observation)
        }
        #expect(
            observations == [.newSession(previous: "warm-up"), .next, .next, .gap(missing: 3...4), .next, .recovered])
        #expect(await subscriber.tracker.missing == [4])
        await subscriber.close()
        await publisher.close()
    }

    @Test("a malformed frame and a NaN frame are refused, reported with their seq, and the feed goes on")
    func rejectedFramesDoNotStopTheFeed() async throws {
        let context = try ZMQContext()
        let publisher = try await FeedPublisher(bindingTo: loopback, context: context)
        let subscriber = try await FeedSubscriber(connectingTo: publisher.endpoint, context: context)
        try await waitUntilSubscribed(publisher, subscriber)

        try await publisher.publish(testFrame(seq: 0))
        // A NaN frame: encode a clean float frame, then poison one pixel.
        var nanParts = try FrameCodec.encode(testFrame(seq: 1, dtype: .float32))
        var poisoned = (0..<32).map(Float.init)
        poisoned[9] = .nan
        nanParts[2] = poisoned.withUnsafeBytes { Array($0) }
        try await publisher.publish(parts: nanParts)
        // A frame whose header is not JSON at all.
        try await publisher.publish(parts: [
            Array("frame".utf8), Array("not json".utf8), [UInt8](repeating: 0, count: 64),
        ])
        try await publisher.publish(testFrame(seq: 2))

        guard case .frame(_, .newSession) = try await subscriber.next(timeout: .seconds(5)) else {
            Issue.record("expected frame 0")
            return
        }
        guard case .rejected(let nanError, _, let nanSeq) = try await subscriber.next(timeout: .seconds(5)) else {
            Issue.record("expected the NaN frame to be refused")
            return
        }
        #expect(nanError.code == .nonFinitePixels)
        #expect(nanSeq == 1)
        guard case .rejected(let jsonError, _, let jsonSeq) = try await subscriber.next(timeout: .seconds(5)) else {
            Issue.record("expected the garbage frame to be refused")
            return
        }
        #expect(jsonError.code == .notJSON)
        #expect(jsonSeq == nil)
        // The refused NaN frame counts as arrived: frame 2 follows without a gap.
        guard case .frame(let frame, let observation) = try await subscriber.next(timeout: .seconds(5)) else {
            Issue.record("expected frame 2")
            return
        }
        #expect(frame.header.seq == 2)
        #expect(observation == .next)
        await subscriber.close()
        await publisher.close()
    }

    @Test("a slow subscriber loses frames only as a reported gap, never silently")
    func slowSubscriberSeesGaps() async throws {
        let context = try ZMQContext()
        var publisherOptions = FeedPublisher.defaultOptions
        publisherOptions.sendHighWaterMark = 4
        var subscriberOptions = FeedSubscriber.defaultOptions
        subscriberOptions.receiveHighWaterMark = 4
        let publisher = try await FeedPublisher(bindingTo: loopback, context: context, options: publisherOptions)
        let subscriber = try await FeedSubscriber(
            connectingTo: publisher.endpoint, context: context, options: subscriberOptions)
        try await waitUntilSubscribed(publisher, subscriber)
        let sent = 300
        for seq in 0..<sent {
            try await publisher.publish(testFrame(seq: UInt64(seq), width: 256, height: 256))
        }
        var received = 0
        var reportedMissing = 0
        var first: UInt64?
        while let event = try? await subscriber.next(timeout: .milliseconds(300)) {
            guard case .frame(let frame, let observation) = event else { continue }
            first = first ?? frame.header.seq
            received += 1
            if case .gap(let missing) = observation { reportedMissing += missing.count }
        }
        let tracker = await subscriber.tracker
        #expect(received > 0)
        // Every frame is either received or counted missing: nothing vanishes.
        #expect(UInt64(received) + tracker.totalMissed == (tracker.newest ?? 0) - (first ?? 0) + 1)
        #expect(UInt64(reportedMissing) == tracker.totalMissed)
        await subscriber.close()
        await publisher.close()
    }

    @Test("the feed's limits follow the largest frame allowed: parts of a 2048² float32 channel pass, larger do not")
    func limitsFollowTheLargestFrame() {
        let mebibyte: Int64 = 1 << 20
        #expect(FeedSubscriber.options(largestSide: 512).maxMessageSize == 32 * mebibyte)
        #expect(FeedSubscriber.options(largestSide: 2048).maxMessageSize == 32 * mebibyte)
        #expect(FeedSubscriber.options(largestSide: 4096).maxMessageSize == 64 * mebibyte)
        #expect(FeedSubscriber.options(largestSide: 5000).maxMessageSize == 96 * mebibyte)  // 95.4 MiB, rounded up
        #expect(FeedSubscriber.options(largestSide: 2048).receiveHighWaterMark == 4)
        #expect(FeedSubscriber.options(largestSide: 2048, queueBytes: 1 << 30).receiveHighWaterMark == 32)
        #expect(FeedSubscriber.options(largestSide: 64, queueBytes: 1 << 40).receiveHighWaterMark == 64)
        #expect(FeedSubscriber.options(largestSide: Int.max).maxMessageSize > 0)
    }

    @Test("a part over the feed's limit is not read; ZeroMQ drops that connection for good, reconnect() restores it")
    func oversizedPartIsNotRead() async throws {
        let context = try ZMQContext()
        let publisher = try await FeedPublisher(bindingTo: loopback, context: context)
        let subscriber = try await FeedSubscriber(
            connectingTo: publisher.endpoint, context: context, options: FeedSubscriber.options(largestSide: 64))
        try await waitUntilSubscribed(publisher, subscriber)
        try await publisher.publish(testFrame(seq: 0))
        // 33 MiB of pixels in one part: more than the limit.
        var parts = try FrameCodec.encode(testFrame(seq: 1))
        parts[2] = [UInt8](repeating: 0, count: 33 << 20)
        try await publisher.publish(parts: parts)
        guard case .frame(let first, _) = try await subscriber.next(timeout: .seconds(5)) else {
            Issue.record("expected frame 0")
            return
        }
        #expect(first.header.seq == 0)
        /// Publishes frames from `seq` on until one arrives (nil: none in `tries`), collecting refusals.
        func nextDelivered(from seq: UInt64, tries: Int) async throws -> (Frame?, [ProtocolError]) {
            var refused: [ProtocolError] = []
            for offset in 0..<UInt64(tries) {
                try await publisher.publish(testFrame(seq: seq + offset))
                switch try? await subscriber.next(timeout: .milliseconds(25)) {
                case .frame(let frame, _)?: return (frame, refused)
                case .rejected(let error, _, _)?: refused.append(error)
                case nil: continue
                }
            }
            return (nil, refused)
        }
        // Well past the reconnect interval: ZeroMQ does not reconnect after a protocol error.
        let (silent, refused) = try await nextDelivered(from: 2, tries: 40)
        #expect(silent == nil, "ZeroMQ reconnected by itself; the daemon's feed reconnection is not needed")
        #expect(refused.isEmpty, "the oversized part was read: \(refused)")
        try await subscriber.reconnect()
        let (after, _) = try await nextDelivered(from: 100, tries: 200)
        #expect(after.map { $0.header.seq >= 100 } == true, "no frame after reconnecting")
        await subscriber.close()
        await publisher.close()
    }
}
