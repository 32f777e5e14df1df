import DefectDetection
import Foundation
import ImageNumerics
import Simulator
import Testing
import WireProtocol

@Suite("The shipped detector")
struct BundledModelTests {
    @Test("finds single selenium vacancies in fresh virtual-microscope frames out of the box")
    func findsSe1() throws {
        let url = try #require(DefectDetector.bundledModel, "the build should ship Models/detector-se1.safetensors")
        let detector = try DefectDetector(contentsOf: url)
        #expect(detector.metadata.recipe.hasPrefix("scopepilot train"))
        // A sample seed and places the training never used, at the published imaging dose.
        var layout = SampleLayout.standard(seed: 11)
        layout.vacancyRich = [Disc(x: 0, y: 0, radius: 400)]
        layout.holes = []
        layout.damaged = []
        layout.contamination = []
        let scope = VirtualMicroscope(sample: Sample(layout: layout), noiseSeed: 77)
        var total = DetectionScore()
        for (x, y) in [(-50.0, 20.0), (30.0, -60.0), (80.0, 90.0), (-120.0, -140.0)] {
            let frame = scope.acquire(
                ScanGeometry(centerX: x, centerY: y, fovX: 5.12, width: 256, height: 256, dwell: 20),
                channels: ["HAADF"])
            let found = detector.detect(frame.channels["HAADF"]!, pixelSize: 0.2).filter { $0.kind == .se1 }
            total =
                total
                + DetectionScore.score(
                    detected: found.map { ($0.x, $0.y) },
                    truth: frame.truth.defects.filter { $0.kind == .se1 }.map { ($0.x, $0.y) },
                    radius: 5, width: 256, height: 256, border: 8)
        }
        #expect(total.truePositives + total.falseNegatives > 20, "enough vacancies to judge: \(total)")
        #expect(total.f1 > 0.85, "\(total)")
    }
}
