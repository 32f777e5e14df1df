import ImageNumerics
import Testing
import WireProtocol

@testable import DaemonAnalysis

@Suite("Drift tracker")
struct DriftTrackerTests {
    @Test("a frame that arrives late is registered against a frame scanned before it, never a later one")
    func lateFrame() throws {
        var random = SplitMix64(seed: 3)
        let image = Image(width: 128, height: 128, pixels: (0..<(128 * 128)).map { _ in Float(random.unit()) })
        let scan = ScanGeometry(centerX: 0, centerY: 0, fovX: 2.56, width: 128, height: 128, dwell: 1)
        var tracker = DriftTracker()
        let first = FrameKey(session: "drv", seq: 0)
        _ = try tracker.measure(first, scan: scan, time: 0, image: image)
        _ = try tracker.measure(FrameKey(session: "drv", seq: 2), scan: scan, time: 2, image: image)
        // Frame 1 was scanned at t = 1 but arrives after frame 2.
        let late = try #require(
            try tracker.measure(FrameKey(session: "drv", seq: 1), scan: scan, time: 1, image: image))
        #expect(late.reference == first)
        #expect(abs(late.vx) < 0.1 && abs(late.vy) < 0.1, "\(late)")
    }

    @Test("a long session keeps a few phase correlations, not one per overlap size it ever met")
    func registrationsAreBounded() throws {
        var random = SplitMix64(seed: 5)
        let image = Image(width: 128, height: 128, pixels: (0..<(128 * 128)).map { _ in Float(random.unit()) })
        var tracker = DriftTracker(depth: 1)
        var measured = 0
        for step in 0..<30 {
            // Each scan sits `step` pixels (0.02 nm each) east of the first: every overlap differs.
            let scan = ScanGeometry(
                centerX: 0.02 * Double(step % 2 == 0 ? 0 : step), centerY: 0, fovX: 2.56, width: 128, height: 128,
                dwell: 1)
            if try tracker.measure(
                FrameKey(session: "drv", seq: UInt64(step)), scan: scan, time: Double(step), image: image)
                != nil
            {
                measured += 1
            }
        }
        #expect(measured == 29)
        #expect(Set(tracker.registrationSizes).count == tracker.registrationSizes.count)
        #expect(tracker.registrationSizes.count == DriftTracker.keptRegistrations, "\(tracker.registrationSizes)")
    }
}
