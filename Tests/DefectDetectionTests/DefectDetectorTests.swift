import DefectDetection
import Foundation
import ImageNumerics
import NeuralNetwork
import Testing

@Suite("Defect detector plumbing")
struct DefectDetectorTests {
    static func detector(tileSize: Int = 512, overlap: Int = 8) -> DefectDetector {
        let detector = DefectDetector(architecture: .init(classes: 3, width: 4, depth: 2), pixelSize: 0.2, seed: 2)
        detector.tileSize = tileSize
        detector.tileOverlap = overlap
        return detector
    }

    static func image(_ width: Int, _ height: Int) -> Image {
        Image(width: width, height: height, pixels: (0..<(width * height)).map { Float(sin(Double($0) * 0.37)) })
    }

    @Test("probabilities sum to one at every pixel, for a frame that is not a multiple of the granularity")
    func probabilities() {
        let maps = Self.detector().probabilities(Self.image(37, 29))
        #expect(maps.count == 3 && maps[0].count == 37 * 29)
        for i in 0..<(37 * 29) { #expect(abs(maps[0][i] + maps[1][i] + maps[2][i] - 1) < 1e-4) }
    }

    @Test("tiling with an overlap wider than the receptive field gives the same probabilities as one pass")
    func tiling() {
        // A depth-2 network sees about 28 px around a pixel; 32 px of overlap covers it.
        let image = Self.image(160, 128)
        let whole = Self.detector(tileSize: 512).probabilities(image)
        let tiled = Self.detector(tileSize: 96, overlap: 32).probabilities(image)
        var close = 0
        for i in 0..<(160 * 128) where abs(whole[1][i] - tiled[1][i]) < 1e-3 { close += 1 }
        #expect(close > 160 * 128 * 95 / 100, "\(close) of \(160 * 128) pixels agree")
    }

    @Test("detections are reported in the input image's pixels whatever its pixel size")
    func coordinates() {
        let detector = Self.detector()
        for defect in detector.detect(Self.image(150, 90), pixelSize: 0.3, threshold: 0.3) {
            #expect(defect.x >= -0.5 && defect.x <= 149.5 && defect.y >= -0.5 && defect.y <= 89.5, "\(defect)")
            #expect(defect.kind != .background)
        }
        let scaled = DefectDetector.resample(Self.image(150, 90), scale: 1.5)
        #expect(scaled.width == 225 && scaled.height == 135)
    }

    @Test("a saved detector loads with its weights and metadata")
    func saveAndLoad() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "scopepilot-\(UUID().uuidString).safetensors")
        defer {
            try? FileManager.default.removeItem(at: url)
            try? FileManager.default.removeItem(at: url.deletingPathExtension().appendingPathExtension("json"))
        }
        let original = Self.detector()
        original.metadata.metrics["se1_f1"] = 0.5
        original.metadata.recipe = "scopepilot train --test"
        try original.save(to: url)
        let loaded = try DefectDetector(contentsOf: url)
        #expect(loaded.metadata == original.metadata)
        let image = Self.image(32, 32)
        #expect(loaded.probabilities(image) == original.probabilities(image))
        #expect(throws: (any Error).self) {
            try DefectDetector(contentsOf: URL(fileURLWithPath: "/nonexistent/model.safetensors"))
        }
    }
}
