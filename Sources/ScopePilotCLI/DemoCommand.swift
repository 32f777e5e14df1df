import ArgumentParser
import Foundation
import InstrumentDriver
import SimulatedDriver
import Simulator
import Transport
import WireProtocol

/// `scopepilot demo`: the end-to-end demonstration.
///
/// This build has the wire protocol, the ZeroMQ transport, the driver runtime and the virtual
/// microscope; the daemon's analysis loop is not in it yet. So the demo runs what exists: the
/// simulated driver and a client, talking over loopback ZeroMQ exactly as in production, and it
/// says so.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the virtual microscope and a client over loopback ZeroMQ and print what happened.")

    @Option(name: .long, help: "Frames to scan.")
    var frames = 10

    @Option(name: .long, help: "Pixels per side of each frame.")
    var pixels = 256

    @Option(name: .long, help: "Field of view of each frame, nm.")
    var fov = 5.0

    @Option(name: .long, help: "Folder for the simulator's ground truth (default: a temporary folder).")
    var truth: String?

    func validate() throws {
        guard (1...10_000).contains(frames) else { throw ValidationError("--frames must be 1 to 10000") }
        guard (16...4096).contains(pixels) else { throw ValidationError("--pixels must be 16 to 4096") }
    }

    func run() async throws {
        print(
            """
            ScopePilot demo \(BuildInfo.version)
            This build has the wire protocol, the ZeroMQ transport, the driver runtime and the virtual
            microscope. The daemon's analysis loop (detection, segmentation, policies, the decision log) is
            not in it yet, so this demo runs what exists: the simulated driver serving a WSe2 sample, and a
            client, over loopback ZeroMQ as in production. Defect counts below are the simulator's ground truth.

            """)
        FrameBufferReuse.enable()
        let context = try ZMQContext()
        let loopback = try Endpoint("tcp://127.0.0.1:*")
        let truthFolder = URL(
            fileURLWithPath: truth
                ?? FileManager.default.temporaryDirectory.appendingPathComponent(
                    "scopepilot-demo-truth-\(ProcessInfo.processInfo.processIdentifier)"
                ).path, isDirectory: true)
        let driver = try await DriverRuntime(
            instrument: SimulatedInstrument(scope: VirtualMicroscope(), truthDirectory: truthFolder),
            configuration: .init(feed: loopback, control: loopback), context: context)
        let driverTask = Task { await driver.run() }
        defer { driverTask.cancel() }
        let session = await driver.session
        print("driver   feed \(driver.feedEndpoint), commands \(driver.controlEndpoint), session \(session)")

        let feed = try await FeedSubscriber(connectingTo: driver.feedEndpoint, context: context)
        let control = try await CommandClient(connectingTo: driver.controlEndpoint, context: context)
        let welcome = try await control.hello(client: "scopepilot-demo/\(BuildInfo.version)")
        print("HELLO -> WELCOME from \(welcome.driver), detectors \(welcome.limits.detectors.joined(separator: ", "))")
        let demo = DemoSession(feed: feed, control: control)
        try await demo.waitForFeed()

        var roundTrips: [Double] = []
        var received: [UInt64] = []
        var present: [String: Int] = [:]
        for index in 0..<frames {
            // A raster across the edge of the vacancy-rich zone west of the sample's centre.
            let x = -120 + Double(index % 5) * 40
            let y = 60 + Double(index / 5) * 40
            let geometry = ScanGeometry(centerX: x, centerY: y, fovX: fov, width: pixels, height: pixels, dwell: 20)
            let result = try await demo.run(.scanRegion(ScanRequest(geometry: geometry, channels: ["HAADF", "MAADF"])))
            guard case .done(let done) = result.outcome, let seq = done.readback.frames?.first else {
                print("  scan \(index + 1) did not complete: \(result.outcome)")
                continue
            }
            let frame = try await demo.frame(seq: seq)
            roundTrips.append((result.finishedAt - result.sentAt) * 1000)
            received.append(seq)
            let defects = Self.groundTruthDefects(truthFolder, session: session, seq: seq)
            for (kind, count) in defects { present[kind, default: 0] += count }
            let listed = defects.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
            let place = String(format: "(%6.1f, %5.1f) nm, %.0f nm, %dx%d", x, y, fov, pixels, pixels)
            print(
                "[\(index + 1)/\(frames)] scan_region \(place) -> frame seq \(seq),"
                    + " \(frame.header.channels.joined(separator: "+")); ground truth: \(listed.isEmpty ? "no defects" : listed)"
            )
        }

        let move = try await demo.run(.moveStage(StagePosition(x: 250, y: -125)))
        print("move_stage (250, -125) nm -> \(move.outcome.summary)")
        let state = try await demo.run(.getState)
        print("get_state -> \(state.outcome.summary)")
        let from = received.first ?? 0
        let resend = try await demo.run(.resendFrames(from: from, to: from + 2))
        print(
            "resend_frames \(from)...\(from + 2) -> \(resend.frames.count) frames sent again, \(resend.outcome.summary)"
        )
        let tooBig = ScanGeometry(centerX: 0, centerY: 0, fovX: 1e7, width: 64, height: 64, dwell: 1)
        let refused = try await demo.run(.scanRegion(ScanRequest(geometry: tooBig)))
        print("scan_region with a 10 mm field of view -> \(refused.outcome.summary)")

        let tracker = await feed.tracker
        print(
            """

            Summary
              frames received      \(received.count) of \(frames), lost on the feed: \(tracker.totalMissed)
              defects present      \(present.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")) (ground truth in \(truthFolder.path))
              command round trip   p50 \(Self.format(Self.percentile(roundTrips, 50))) ms, p99 \(Self.format(Self.percentile(roundTrips, 99))) ms (send -> DONE, includes the scan)
              protocol             \(ProtocolVersion.current), libzmq \(ZMQContext.libraryVersion)
            Next: the daemon will detect these defects itself, decide where to look, and log why.
            """)
        await control.close()
        await feed.close()
    }

    /// Defect counts by type from the simulator's ground truth for frame `seq`.
    static func groundTruthDefects(_ folder: URL, session: String, seq: UInt64) -> [String: Int] {
        let url = folder.appendingPathComponent(session).appendingPathComponent("\(seq).json")
        guard let data = try? Data(contentsOf: url),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let defects = object["defects"] as? [[String: Any]]
        else { return [:] }
        return Dictionary(grouping: defects.compactMap { $0["type"] as? String }, by: { $0 }).mapValues(\.count)
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int((p / 100 * Double(sorted.count - 1)).rounded()))]
    }

    static func format(_ value: Double) -> String { String(format: "%.2f", value) }
}

/// The client side of the demo: numbered commands and frames awaited by seq.
actor DemoSession {
    let feed: FeedSubscriber
    let control: CommandClient
    private var counter = 0
    private var early: [UInt64: Frame] = [:]

    init(feed: FeedSubscriber, control: CommandClient) {
        self.feed = feed
        self.control = control
    }

    func run(_ action: CommandAction) async throws -> CommandResult {
        counter += 1
        return try await control.execute(
            Command(id: CommandID("demo-\(counter)"), deadline: .seconds(10), action: action))
    }

    /// Scans small frames until one arrives: a subscription takes a moment to reach the publisher,
    /// and frames published before that are not delivered.
    func waitForFeed() async throws {
        let probe = ScanGeometry(centerX: 0, centerY: 0, fovX: 2, width: 16, height: 16, dwell: 1)
        for _ in 0..<50 {
            _ = try await run(.scanRegion(ScanRequest(geometry: probe)))
            if let event = try? await feed.next(timeout: .milliseconds(100)), case .frame = event { return }
        }
        throw TransportError(code: .timedOut, message: "no frame arrived on the feed within 5 s")
    }

    /// The frame with `seq`, waiting up to 5 s.
    func frame(seq: UInt64) async throws -> Frame {
        if let frame = early.removeValue(forKey: seq) { return frame }
        while true {
            switch try await feed.next(timeout: .seconds(5)) {
            case .frame(let frame, _) where frame.header.seq == seq: return frame
            case .frame(let frame, _): early[frame.header.seq] = frame
            case .rejected(let error, _, _): print("  feed refused a frame: \(error)")
            }
        }
    }
}

extension CommandOutcome {
    var summary: String {
        switch self {
        case .done(let done):
            var parts: [String] = ["DONE"]
            if let stage = done.readback.stage {
                parts.append(String(format: "stage (%.1f, %.1f) nm", stage.x, stage.y))
            }
            if let blanked = done.readback.beamBlanked { parts.append("beam \(blanked ? "blanked" : "on")") }
            if let state = done.readback.state { parts.append("state \(state)") }
            if let missing = done.readback.missing, !missing.isEmpty { parts.append("missing \(missing)") }
            return parts.joined(separator: ", ")
        case .failed(let failed): return "FAILED \(failed.code): \(failed.reason)"
        case .rejected(let reject): return "REJECT \(reject.code): \(reject.reason)"
        }
    }
}
