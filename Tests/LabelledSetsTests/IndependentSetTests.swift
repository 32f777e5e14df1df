import DefectDetection
import Foundation
import ImageNumerics
import LabelledSets
import Segmentation
import SegmentationEvaluation
import Testing

/// The abTEM sets committed in Tests/Fixtures/abtem (made by make_sets.py there).
enum AbTEMSets {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/abtem")
    static func load(_ name: String) throws -> LabelledSet { try LabelledSet.load(root.appendingPathComponent(name)) }
}

@Suite("The abTEM sets: images ScopePilot did not make")
struct IndependentSetTests {
    @Test("every frame of both sets is readable, and its labels lie in it and name known kinds")
    func integrity() throws {
        for name in ["detection", "segmentation", "segmentation-wide"] {
            let set = try AbTEMSets.load(name)
            #expect(set.frames.count >= 8, "\(name)")
            #expect(set.regions == ["pristine", "vacancy-rich", "damaged", "hole", "contamination"])
            for frame in set.frames {
                let image = try frame.image(frame.detectorChannel)
                #expect(frame.detectorChannel.name == "HAADF")
                #expect(image.width >= 128 && image.height >= 128)
                #expect(frame.dose != nil && frame.pixelSize > 0.1 && frame.pixelSize < 0.4)
                for defect in frame.defects ?? [] {
                    #expect(defect.x > -0.5 && defect.x < Double(image.width) - 0.5)
                    #expect(defect.y > -0.5 && defect.y < Double(image.height) - 0.5)
                }
                if let map = try frame.regionMap(width: image.width, height: image.height, regions: set.regions.count) {
                    #expect(Set(map).count >= 2, "\(frame.name) has one region only")
                }
            }
        }
    }

    @Test("the lattice gives every frame's pixel size within 2 %, at every dose, probe and pixel size")
    func pixelSize() throws {
        for name in ["detection", "segmentation", "segmentation-wide"] {
            for frame in try AbTEMSets.load(name).frames {
                let image = try frame.image(frame.detectorChannel)
                let period = try #require(LatticePeriod.measure(image), "\(name)/\(frame.name): no lattice found")
                let measured = period.pixelSize()
                #expect(abs(measured / frame.pixelSize - 1) < 0.02, "\(name)/\(frame.name): \(measured) Å/px")
            }
        }
    }

    @Test("the shipped Se1 detector finds single Se vacancies in abTEM images: F1 ≥ 0.95 from 1e4 e/Å² up")
    func detector() throws {
        let set = try AbTEMSets.load("detection")
        let detector = try DefectDetector.load("se1").0
        var doses = 0
        for (dose, frames) in set.doseGroups {
            guard let dose, dose >= 1e4 else { continue }
            let se1 = try #require(try DetectorSetScore.score(detector, on: frames)[.se1])
            #expect(se1.truePositives + se1.falseNegatives >= 50, "too few Se1 at \(dose) e/Å² to say anything")
            #expect(se1.f1 >= 0.95, "Se1 at \(dose) e/Å²: \(se1)")
            doses += 1
        }
        #expect(doses == 3)
    }
}

@Suite("Chip labels and the k-means baseline")
struct ChipBaselineTests {
    @Test("a chip's label is its majority region; merging maps kinds onto one")
    func majority() {
        // 4 x 2 px, chips of 2 px: left chip mostly region 1, right chip all region 2.
        let map = [1, 1, 2, 2, 0, 1, 2, 2]
        let grid = ChipGrid(width: 4, height: 2, chipSize: 2, stride: 2)
        #expect(ChipLabels.majority(map, width: 4, grid: grid) == [1, 2])
        #expect(ChipLabels.merging([0, 1, 2, 3, 2], [2, 0]) == [0, 1, 0, 3, 0])
    }

    @Test("k-means recovers well separated groups of chips, whatever their scale")
    func kmeans() {
        var random = SplitMix64(seed: 5)
        func noise() -> Double { Double(random.next() % 1000) / 1000 - 0.5 }
        var rows: [[Double]] = []
        var truth: [Int] = []
        for group in 0..<3 {
            for _ in 0..<40 {
                rows.append([Double(group) * 10 + noise(), 1000 * Double(group % 2) + 50 * noise(), noise()])
                truth.append(group)
            }
        }
        let labels = ChipStatisticsKMeans.cluster(rows, k: 3)
        #expect(ClusteringAgreement.adjustedRandIndex(truth, labels) > 0.99)
        #expect(Set(ChipStatisticsKMeans.cluster(rows, k: 1)) == [0])
    }

    @Test("chip statistics: mean, standard deviation and gradient per channel")
    func statistics() {
        let flat = Image(width: 4, height: 2, value: 3)
        let ramp = Image(width: 4, height: 2, pixels: [0, 1, 2, 3, 0, 1, 2, 3])
        let rows = ChipStatisticsKMeans.statistics(
            [flat, ramp], grid: ChipGrid(width: 4, height: 2, chipSize: 2, stride: 2))
        #expect(rows.count == 2 && rows[0].count == 6)
        #expect(rows[0][0] == 3 && rows[0][1] == 0 && rows[0][2] == 0)
        #expect(rows[0][3] == 0.5 && rows[0][4] == 0.5 && rows[0][5] == 1)
    }
}
