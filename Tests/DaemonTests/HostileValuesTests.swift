import DaemonAnalysis
import DaemonRetraining
import DefectDetection
import ImageNumerics
import PolicyKit
import Testing
import WireProtocol

/// Values a peer may send that are valid by the protocol's letter and absurd in fact: the daemon's
/// stages answer them without trapping.
@Suite("Absurd values from a peer")
struct HostileValuesTests {
    static func frame(seq: UInt64, centerX: Double, fov: Double) throws -> Frame {
        let header = FrameHeader(
            session: "drv", seq: seq, time: .init(start: Double(seq), end: Double(seq) + 0.5),
            scan: ScanGeometry(centerX: centerX, centerY: -centerX, fovX: fov, width: 64, height: 64, dwell: 1),
            stage: StagePosition(x: 0, y: 0), channels: ["HAADF"], dtype: .float32)
        var random = SplitMix64(seed: seq)
        let pixels = (0..<(64 * 64)).map { _ in Float(random.unit()) }
        return try Frame(header: header, channels: [try PixelBuffer(float32: pixels, width: 64, height: 64)])
    }

    @Test(
        "analysis of frames at 1e300 nm, with a field of view of 1e-12 nm or 1e12 nm, does not trap",
        arguments: [(1e300, 1e-12), (-1e300, 1e12), (1e300, 3.0)])
    func absurdGeometry(centerX: Double, fov: Double) async throws {
        let detector = try DefectDetector.load("se1").detector
        let analysis = AnalysisStage(detector: detector, modelID: "se1", baseline: SimulatedBaseline())
        for seq: UInt64 in 0..<3 {
            let result = try await analysis.analyse(
                ReceivedFrame(try Self.frame(seq: seq, centerX: centerX * Double(seq + 1), fov: fov)))
            #expect(result.key.seq == seq)
        }
    }

    @Test("the map's covered area of visits 1e300 nm apart is a number, computed on a bounded grid")
    func coveredAreaFarApart() {
        var map = SessionMap()
        for (index, x) in [-1e300, 0, 1e300].enumerated() {
            map.record(
                .init(
                    seq: UInt64(index),
                    scan: ScanGeometry(centerX: x, centerY: 0, fovX: 10, width: 64, height: 64, dwell: 1),
                    dose: 1, defects: nil, communities: []))
        }
        #expect(map.coveredArea.isFinite)
    }
}
