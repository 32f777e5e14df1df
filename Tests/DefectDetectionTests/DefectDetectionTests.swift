import DefectDetection
import DetectorTraining
import Foundation
import Testing

@Suite("Defect detection building blocks")
struct DefectDetectionTests {
    @Test("peak extraction finds blobs at their centres, merges close ones, and ignores lone pixels")
    func peaks() {
        let (w, h) = (64, 48)
        var map = [Float](repeating: 0, count: w * h)
        func blob(_ cx: Double, _ cy: Double, _ amplitude: Float) {
            for y in 0..<h {
                for x in 0..<w {
                    let r2 = (Double(x) - cx) * (Double(x) - cx) + (Double(y) - cy) * (Double(y) - cy)
                    map[y * w + x] = max(map[y * w + x], amplitude * Float(exp(-r2 / 8)))
                }
            }
        }
        blob(10.3, 12.6, 0.95)
        blob(40, 30, 0.8)
        blob(44, 31, 0.9)  // within the cluster radius of the previous one: one defect
        map[5 * w + 60] = 1  // a lone hot pixel
        let found = PeakExtraction.peaks(map, width: w, height: h).sorted { $0.x < $1.x }
        #expect(found.count == 2, "\(found)")
        #expect(abs(found[0].x - 10.3) < 0.3 && abs(found[0].y - 12.6) < 0.3)
        // The confidence is the highest sampled probability: the nearest pixel to (10.3, 12.6) is (10, 13).
        #expect(abs(Double(found[0].confidence) - 0.95 * exp(-(0.09 + 0.16) / 8)) < 0.005)
        #expect(found[1].x > 40 && found[1].x < 44)
    }

    @Test("scores: greedy one-to-one matching within the radius, border excluded")
    func scoring() {
        let truth = [(x: 10.0, y: 10.0), (x: 20.0, y: 20.0), (x: 30.0, y: 30.0), (x: 1.0, y: 1.0)]
        let detected = [(x: 10.5, y: 10.0), (x: 10.8, y: 10.2), (x: 21.0, y: 20.0), (x: 45.0, y: 45.0)]
        let score = DetectionScore.score(
            detected: detected, truth: truth, radius: 1.5, width: 50, height: 50, border: 2)
        // (10,10) matched once; its second detection is a false positive; (20,20) matched; (30,30)
        // missed; (45,45) false; (1,1) is inside the border and ignored.
        #expect(score.truePositives == 2 && score.falsePositives == 2 && score.falseNegatives == 1)
        #expect(abs(score.precision - 0.5) < 1e-12 && abs(score.recall - 2.0 / 3) < 1e-12)
        #expect(abs(score.f1 - 4.0 / 7) < 1e-12)
        #expect(DetectionScore.score(detected: [], truth: [], radius: 1, width: 10, height: 10).f1 == 1)
    }

    @Test("training tiles: z-scored images, a label disk at every true defect, varied and repeatable conditions")
    func tiles() {
        let tiles = TrainingTiles.generate(count: 3, size: 96, seed: 5)
        #expect(tiles.count == 3)
        for tile in tiles {
            let mean = tile.image.reduce(0, +) / Float(tile.image.count)
            #expect(abs(mean) < 1e-3)
            for defect in tile.defects where defect.x >= 0.5 && defect.y >= 0.5 && defect.x < 95 && defect.y < 95 {
                #expect(tile.labels[Int(defect.y.rounded()) * 96 + Int(defect.x.rounded())] == defect.kind.rawValue)
            }
            let labelled = tile.labels.filter { $0 != 0 }.count
            let disk = Double.pi * pow(TrainingTiles.labelRadius / tile.pixelSize, 2)
            #expect(Double(labelled) <= Double(tile.defects.count) * (disk + 12))
        }
        #expect(tiles.reduce(0) { $0 + $1.defects.count } >= 3, "a defect-rich sample should show defects")
        #expect(Set(tiles.map(\.conditions.defocus)).count == 3)
        let again = TrainingTiles.generate(count: 3, size: 96, seed: 5)
        #expect(again.map(\.image) == tiles.map(\.image))
        #expect(again.map(\.labels) == tiles.map(\.labels))
    }
}
