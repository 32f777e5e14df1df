import Foundation
import InstrumentDriver
import SimulatedDriver
import Simulator
import Testing
import Transport
import WireProtocol

@Suite("Simulated driver over loopback")
struct SimulatedDriverTests {
    @Test("frames of the virtual microscope arrive decoded, with their ground truth filed by seq")
    func framesAndTruth() async throws {
        let truth = FileManager.default.temporaryDirectory.appendingPathComponent(
            "scopepilot-truth-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: truth) }
        let context = try ZMQContext()
        let loopback = try Endpoint("tcp://127.0.0.1:*")
        let instrument = SimulatedInstrument(scope: VirtualMicroscope(), truthDirectory: truth)
        let driver = try await DriverRuntime(
            instrument: instrument, configuration: .init(feed: loopback, control: loopback), context: context)
        let serving = Task { await driver.run() }
        defer { serving.cancel() }
        let client = try await CommandClient(connectingTo: driver.controlEndpoint, context: context)
        let feed = try await FeedSubscriber(connectingTo: driver.feedEndpoint, context: context)
        let welcome = try await client.hello(client: "tests")
        #expect(welcome.limits.detectors == ["HAADF", "MAADF"])

        var counter = 0
        func scan(_ geometry: ScanGeometry) async throws -> CommandResult {
            counter += 1
            return try await client.execute(
                Command(
                    id: CommandID("c-\(counter)"), deadline: .seconds(10),
                    action: .scanRegion(ScanRequest(geometry: geometry))))
        }
        let geometry = ScanGeometry(centerX: -120, centerY: 60, fovX: 6, width: 192, height: 192, dwell: 20)
        var frame: Frame?
        for _ in 0..<50 where frame == nil {
            _ = try await scan(geometry)
            if let event = try? await feed.next(timeout: .milliseconds(200)), case .frame(let f, _) = event {
                frame = f
            }
        }
        let received = try #require(frame)
        #expect(received.header.channels == ["HAADF", "MAADF"])
        #expect(received.header.optics?.beamEnergy == 80)
        #expect(received.header.time.end > received.header.time.start)
        let haadf = received.channels[0].floats()
        #expect(haadf.max()! > 150, "atoms should stand out above the detector offset")

        // Ground truth for exactly that frame, filed under its seq.
        let record = truth.appendingPathComponent(await driver.session).appendingPathComponent(
            "\(received.header.seq).json")
        let object = try JSONSerialization.jsonObject(with: try Data(contentsOf: record)) as! [String: Any]
        #expect((object["seq"] as? Int) == Int(received.header.seq))
        #expect(((object["columns"] as? [Any])?.count ?? 0) > 500)
        #expect(
            FileManager.default.fileExists(atPath: record.path.replacingOccurrences(of: ".json", with: "-regions.png")))

        // A blanked beam refuses to scan, with the reason.
        _ = try await client.execute(Command(id: "blank", deadline: .seconds(2), action: .blankBeam))
        guard case .failed(let failed) = try await scan(geometry).outcome else {
            Issue.record("scanning with the beam blanked should fail")
            return
        }
        #expect(failed.code == "beam_blanked")
        await client.close()
        await feed.close()
    }
}
