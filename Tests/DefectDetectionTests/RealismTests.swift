import DefectDetection
import DetectorTraining
import Foundation
import ImageNumerics
import NeuralNetwork
import Simulator
import Testing

@Suite("Realism step: frame statistics and the condition estimate")
struct RealismTests {
    static func frames(_ conditions: TileConditions, count: Int = 2, size: Int = 128, seed: UInt64 = 5) -> [Image] {
        TrainingTiles.generate(count: count, size: size, conditions: conditions, seed: seed).map {
            Image(width: $0.size, height: $0.size, pixels: $0.image)
        }
    }

    static func statistics(_ conditions: TileConditions) -> FrameStatistics {
        FrameStatistics.mean(
            frames(conditions).map { FrameStatistics($0, pixelSize: conditions.pixelSize, side: 128) })!
    }

    @Test("more dose raises the signal-to-noise statistic; defocus lowers the second lattice ring")
    func statisticsFollowConditions() {
        var low = TileConditions.nominal()
        low.dwell = 4
        var high = TileConditions.nominal()
        high.dwell = 60
        #expect(Self.statistics(high).signalToNoise > Self.statistics(low).signalToNoise + 0.2)
        var blurred = TileConditions.nominal()
        blurred.defocus = 4
        #expect(Self.statistics(blurred).secondRing < Self.statistics(.nominal()).secondRing - 0.1)
    }

    @Test("line jitter makes the lattice spots anisotropic; without it the statistic stays near zero")
    func anisotropy() {
        var steady = TileConditions.nominal()
        steady.lineJitter = 0
        steady.dwell = 60
        var shaky = steady
        shaky.lineJitter = 1.5
        let still = Self.statistics(steady).anisotropy
        #expect(abs(still) < 0.05, "\(still)")
        #expect(Self.statistics(shaky).anisotropy < still - 0.03)
    }

    @Test("frames the realism step cannot read are refused with a reason, not a trap")
    func refusesUnusableFrames() {
        let small = Image(width: 64, height: 64, pixels: [Float](repeating: 1, count: 64 * 64))
        #expect(throws: RealismError.self) { try ConditionEstimator.estimate(frames: [], pixelSize: 0.2) }
        #expect(throws: RealismError.self) { try ConditionEstimator.estimate(frames: [small], pixelSize: 0.2) }
        let big = Image(width: 256, height: 256, pixels: [Float](repeating: 1, count: 256 * 256))
        #expect(throws: RealismError.self) { try ConditionEstimator.estimate(frames: [big], pixelSize: .nan) }
    }

    @Test("the estimate from frames of known conditions lands near them and narrows the prior")
    func estimateBracketsTruth() throws {
        var truth = TileConditions.nominal()
        truth.current = 20
        truth.astigmatism = 1.5
        truth.readNoise = 10
        let estimate = try ConditionEstimator.estimate(
            frames: Self.frames(truth, count: 2, size: 256, seed: 17), pixelSize: truth.pixelSize, dwell: truth.dwell,
            simulationsPerRound: 96, keep: 40, seed: 3)
        let prior = ConditionRanges.wide
        func width(_ r: ClosedRange<Double>) -> Double { r.upperBound - r.lowerBound }
        #expect(estimate.simulations == 192)
        // Current trades against probe blur in these statistics (both lower the lattice signal), so
        // the estimate is checked against the prior's ignorance rather than for an exact bracket.
        let centre = (prior.current.lowerBound + prior.current.upperBound) / 2
        #expect(abs(estimate.conditions.current - truth.current) < abs(centre - truth.current))
        #expect(estimate.ranges.readNoise.contains(truth.readNoise), "\(estimate.ranges.readNoise)")
        #expect(width(estimate.ranges.readNoise) < 0.8 * width(prior.readNoise))
        #expect(estimate.ranges.dwell == 20...20)
        #expect(width(estimate.ranges.current) < 0.8 * width(prior.current))
        #expect(abs(estimate.conditions.current - truth.current) < 12, "\(estimate.conditions) \(estimate.ranges)")
        #expect(estimate.ranges.defocus.lowerBound <= 0 && estimate.ranges.defocus.upperBound >= 0)
    }

    @Test("with too few simulations to fit, the estimate still stays within the prior")
    func fewSimulations() throws {
        let estimate = try ConditionEstimator.estimate(
            frames: Self.frames(.nominal(), count: 1), pixelSize: 0.2, simulationsPerRound: 12, keep: 12, seed: 9)
        let prior = ConditionRanges.wide
        for (range, bounds) in [
            (estimate.ranges.current, prior.current), (estimate.ranges.defocus, prior.defocus),
            (estimate.ranges.readNoise, prior.readNoise), (estimate.ranges.exponent, prior.exponent),
        ] {
            #expect(range.lowerBound >= bounds.lowerBound && range.upperBound <= bounds.upperBound, "\(range)")
        }
        #expect(estimate.conditions.current.isFinite && prior.current.contains(estimate.conditions.current))
    }

    @Test("a model's metadata written before jitter, drift and background existed still loads")
    func oldRangesDecode() throws {
        let json = """
            {"pixelSize":[0.16,0.26],"dwell":[8,40],"current":[15,45],"defocus":[-3,3],"astigmatism":[0,2],
             "coma":[0,60],"exponent":[1.3,1.8],"readNoise":[1,12]}
            """
        let ranges = try JSONDecoder().decode(ConditionRanges.self, from: Data(json.utf8))
        #expect(ranges.current == 15...45)
        #expect(ranges.lineJitter == 0.25...0.25 && ranges.background == 0...0)
    }

    @Test("a scenario's condition set applies over nominal conditions; dose is in electrons per Å²")
    func scenarioConditions() throws {
        let scenario = try Scenario.load(nameOrPath: "day-a-to-day-b")
        let b = TileConditions.nominal().applying(scenario.conditions[1])
        #expect(b.current == 20 && b.defocus == 3 && b.exponent == 1.45)
        // 30 pA for 20 µs is 3745 electrons; over 0.2 x 0.2 Å² that is about 93,600 per Å².
        #expect(abs(DetectorEvaluation.dose(.nominal()) - 93_623) < 10)
    }
}

@Suite("CycleGAN realism on training tiles")
struct CycleGANRealismTests {
    @Test("tiles through a generator keep their defects and labels, come out z-scored, and the file is checked")
    func keepsLabels() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "scopepilot-cgr-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let architecture = ResNetGenerator.Architecture(width: 2, downsamplings: 1, residualBlocks: 1)
        let url = folder.appendingPathComponent("g.safetensors")
        let encoded = String(decoding: try JSONEncoder().encode(architecture), as: UTF8.self)
        try ResNetGenerator(architecture: architecture, seed: 3).save(
            to: url,
            metadata: ["kind": "cyclegan-generator", "architecture": encoded, "pixel_size_angstrom": "0.2"])
        let realism = try CycleGANRealism(contentsOf: url)
        #expect(realism.pixelSize == 0.2 && realism.ranges.dwell == 2000...2000)
        let tiles = TrainingTiles.generate(count: 2, size: 32, conditions: .nominal(pixelSize: 0.2), seed: 4)
        let made = realism.apply(tiles, seed: 9)
        for (before, after) in zip(tiles, made) {
            #expect(after.labels == before.labels && after.defects == before.defects)
            #expect(after.image != before.image)
            let mean = after.image.reduce(0, +) / Float(after.image.count)
            let variance = after.image.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(after.image.count)
            #expect(abs(mean) < 1e-4 && abs(variance - 1) < 1e-3)
        }
        // A detector's weights are not a generator.
        let other = folder.appendingPathComponent("other.safetensors")
        try ResNetGenerator(architecture: architecture).save(to: other)
        #expect(throws: RealismTraining.Failure.self) { try CycleGANRealism(contentsOf: other) }
    }
}

@Suite("Realism distances")
struct RealismDistanceTests {
    /// Deterministic normal draws.
    struct Normal {
        var state: UInt64
        mutating func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let u = max(Double(state >> 11) / Double(1 << 53), 1e-12)
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let v = Double(state >> 11) / Double(1 << 53)
            return Float((-2 * log(u)).squareRoot() * cos(2 * .pi * v))
        }
    }

    @Test("the Fréchet distance is 0 for one set, |μa − μb|² for a shift, (σa − σb)² per axis for a scale")
    func frechet() {
        var normal = Normal(state: 3)
        let a = (0..<4000).map { _ in (0..<3).map { _ in normal.next() } }
        #expect(RealismDistance.frechet(a, a) < 1e-6)
        let shifted = a.map { (v: [Float]) -> [Float] in [v[0] + 1, v[1] - 2, v[2]] }
        #expect(abs(RealismDistance.frechet(a, shifted) - 5) < 1e-3)
        let b = (0..<4000).map { _ in (0..<3).map { _ in normal.next() } }
        let scaled = b.map { (v: [Float]) -> [Float] in [v[0] * 2, v[1], v[2] * 3] }
        // (2 − 1)² + 0 + (3 − 1)² = 5, up to sampling.
        #expect(abs(RealismDistance.frechet(a, scaled) - 5) < 0.5, "\(RealismDistance.frechet(a, scaled))")
        // Correlated features: a rotation of the same Gaussian is 0 away.
        let root2 = Float(2).squareRoot()
        let rotated = a.map { (v: [Float]) -> [Float] in [(v[0] - v[1]) / root2, (v[0] + v[1]) / root2, v[2]] }
        #expect(RealismDistance.frechet(a, rotated) < 0.05)
    }

    @Test("histogram and spectrum distances are 0 between a set and itself and grow with blur and offset")
    func histogramAndSpectrum() {
        var normal = Normal(state: 5)
        let side = 32
        let noise = (0..<16).map { _ in (0..<(side * side)).map { _ in 0.2 * normal.next() } }
        let other = (0..<16).map { _ in (0..<(side * side)).map { _ in 0.2 * normal.next() } }
        let offset = noise.map { $0.map { $0 + 0.1 } }
        // A 3 x 3 box blur: the same values' scale, less power at high frequencies.
        let blurred = noise.map { tile in
            (0..<(side * side)).map { i -> Float in
                let (x, y) = (i % side, i / side)
                var sum: Float = 0
                for dy in -1...1 {
                    for dx in -1...1 { sum += tile[((y + dy + side) % side) * side + (x + dx + side) % side] }
                }
                return sum / 3
            }
        }
        let same = RealismDistance.report(noise, noise, side: side)
        #expect(same.histogram == 0 && same.spectrum == 0 && same.frechet == nil)
        let sampled = RealismDistance.report(noise, other, side: side)
        #expect(sampled.histogram < 0.02 && sampled.spectrum < 0.1, "\(sampled)")
        #expect(abs(RealismDistance.report(noise, offset, side: side).histogram - 0.1) < 1e-3)
        #expect(RealismDistance.report(noise, blurred, side: side).spectrum > 5 * sampled.spectrum)
    }
}
