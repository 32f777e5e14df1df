import DaemonAnalysis
import DaemonRetraining
import DefectDetection
import DetectorTraining
import ImageNumerics
import Testing

@Suite("Condition monitor")
struct ConditionMonitorTests {
    static func frames(_ conditions: TileConditions, seed: UInt64) -> [Image] {
        TrainingTiles.generate(count: 3, size: 256, conditions: conditions, seed: seed).map {
            Image(width: $0.size, height: $0.size, pixels: $0.image)
        }
    }

    static func score(_ monitor: inout ConditionMonitor, _ frames: [Image], _ detector: DefectDetector) -> Double {
        var last = 0.0
        for frame in frames {
            last = monitor.read(frame, pixelSize: 0.2, confidences: [0.9], detector: detector)?.score ?? .nan
        }
        return last
    }

    @Test("frames unlike the training conditions score high; rebaselined on such frames, alike ones score low")
    func rebaselines() throws {
        let detector = try DefectDetector.load("se1").detector
        let trained = TileConditions.nominal()
        var shifted = trained
        shifted.current = 12
        shifted.readNoise = 14
        shifted.defocus = 4
        var monitor = ConditionMonitor(
            ranges: ConditionRanges(exactly: trained), baseline: SimulatedBaseline(), baselineTiles: 6)
        let before = Self.score(&monitor, Self.frames(shifted, seed: 1), detector)
        #expect(before > 2.5, "\(before)")
        monitor.rebaseline(on: Self.frames(shifted, seed: 2), pixelSize: 0.2, detector: detector)
        let after = Self.score(&monitor, Self.frames(shifted, seed: 3), detector)
        #expect(after < before / 2, "\(before) -> \(after)")
        let back = Self.score(&monitor, Self.frames(trained, seed: 4), detector)
        #expect(back > after, "the original conditions are now the drift: \(back) vs \(after)")
    }

    @Test("a frame of vacuum, or mostly vacuum, is not read: it tells of the sample, not the microscope")
    func skipsVacuum() throws {
        let detector = try DefectDetector.load("se1").detector
        var monitor = ConditionMonitor(
            ranges: ConditionRanges(exactly: .nominal()), baseline: SimulatedBaseline(), baselineTiles: 4)
        var random = SplitMix64(seed: 9)
        let noise = Image(width: 256, height: 256, pixels: (0..<65536).map { _ in Float(100 + 20 * random.unit()) })
        #expect(monitor.read(noise, pixelSize: 0.2, confidences: [], detector: detector) == nil)
        let film = Self.frames(.nominal(), seed: 5)[0]
        var holed = film
        for y in 0..<256 { for x in 0..<192 { holed[x, y] = Float(-1.5 + 0.1 * random.unit()) } }
        #expect(monitor.read(holed, pixelSize: 0.2, confidences: [], detector: detector) == nil)
        #expect(monitor.read(film, pixelSize: 0.2, confidences: [0.9], detector: detector) != nil)
    }
}
