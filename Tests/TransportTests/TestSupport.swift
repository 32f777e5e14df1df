import Foundation
import InstrumentDriver
import Testing
import Transport
import WireProtocol

let loopback = try! Endpoint("tcp://127.0.0.1:*")

/// A small valid frame.
func testFrame(
    session: String = "drv-test", seq: UInt64, dtype: PixelType = .uint16, width: Int = 8, height: Int = 4
) -> Frame {
    let header = FrameHeader(
        session: session, seq: seq, time: .init(start: 1, end: 2),
        scan: ScanGeometry(centerX: 0, centerY: 0, fovX: 4, width: width, height: height, dwell: 1),
        stage: StagePosition(x: 0, y: 0), channels: ["HAADF"], dtype: dtype)
    let buffer: PixelBuffer
    switch dtype {
    case .uint16:
        buffer = try! PixelBuffer(uint16: (0..<(width * height)).map { UInt16($0) }, width: width, height: height)
    case .float32:
        buffer = try! PixelBuffer(float32: (0..<(width * height)).map { Float($0) }, width: width, height: height)
    }
    return try! Frame(header: header, channels: [buffer])
}

/// Publishes warm-up frames until the subscriber has one: a subscription takes a moment to reach
/// the publisher, and frames published before that are not delivered.
func waitUntilSubscribed(_ publisher: FeedPublisher, _ subscriber: FeedSubscriber) async throws {
    for seq in 0..<200 {
        try await publisher.publish(testFrame(session: "warm-up", seq: UInt64(seq)))
        if let event = try? await subscriber.next(timeout: .milliseconds(20)), case .frame = event {
            // Drain anything else still in flight from the warm-up.
            while let _ = try? await subscriber.next(timeout: .milliseconds(50)) {}
            return
        }
    }
    Issue.record("the subscriber never received a frame")
}

/// A driver runtime serving a test-pattern instrument on loopback, and a client connected to it.
struct LoopbackRig {
    let context: ZMQContext
    let instrument: TestPatternInstrument
    let driver: DriverRuntime
    let driverTask: Task<Void, Never>
    let client: CommandClient
    let feed: FeedSubscriber

    init(
        instrument: TestPatternInstrument = TestPatternInstrument(), heartbeat: Duration = .seconds(1),
        watchdog: Duration = .seconds(5), ringCapacity: Int = 256
    ) async throws {
        context = try ZMQContext()
        self.instrument = instrument
        var configuration = DriverRuntime.Configuration(feed: loopback, control: loopback)
        configuration.heartbeat = heartbeat
        configuration.watchdog = watchdog
        configuration.ringCapacity = ringCapacity
        driver = try await DriverRuntime(instrument: instrument, configuration: configuration, context: context)
        let driver = driver
        driverTask = Task { await driver.run() }
        client = try await CommandClient(connectingTo: driver.controlEndpoint, context: context)
        feed = try await FeedSubscriber(connectingTo: driver.feedEndpoint, context: context)
    }

    func shutdown() async {
        await client.close()
        await feed.close()
        driverTask.cancel()
        await driverTask.value
    }

    static let small = ScanGeometry(centerX: 0, centerY: 0, fovX: 4, width: 16, height: 16, dwell: 1)

    /// Scans probes until the feed delivers, so later frames are not lost to the slow joiner.
    func waitForFeed() async throws {
        for attempt in 0..<100 {
            let command = Command(
                id: CommandID("warm-\(attempt)"), deadline: .seconds(5),
                action: .scanRegion(ScanRequest(geometry: Self.small)))
            // A generous ACK timeout: the machine may be busy with other suites.
            _ = try await client.execute(command, ackTimeout: .seconds(10))
            if let event = try? await feed.next(timeout: .milliseconds(30)), case .frame = event {
                while let _ = try? await feed.next(timeout: .milliseconds(30)) {}
                return
            }
        }
        Issue.record("the feed never delivered a frame")
    }
}

/// The first event from `client` that `match` accepts, or nil after `limit`: a missing reply fails
/// the test instead of hanging it.
func firstEvent(
    from client: CommandClient, within limit: Duration = .seconds(10),
    where match: @escaping @Sendable (ControlEvent) -> Bool
) async -> ControlEvent? {
    await withTaskGroup(of: ControlEvent?.self) { group in
        group.addTask {
            for await event in client.events where match(event) { return event }
            return nil
        }
        group.addTask {
            try? await Task.sleep(for: limit)
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}
