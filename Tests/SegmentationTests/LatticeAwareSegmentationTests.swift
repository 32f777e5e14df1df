import Foundation
import ImageNumerics
import Testing

@testable import Segmentation

/// A hexagonal lattice of first-order plane spacing `spacing` pixels turned by `rotation`
/// radians: three cosines 60° apart, as in a projected WSe2 image, with atom-like peaks.
func hexagonalLattice(
    size: Int, spacing: Double, rotation: Double, brightness: Float = 1, seed: UInt64 = 1
)
    -> Image
{
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    var image = Image(width: size, height: size)
    for y in 0..<size {
        for x in 0..<size {
            var sum = 0.0
            for k in 0..<3 {
                let angle = rotation + Double(k) * .pi / 3
                let phase = (Double(x) * cos(angle) + Double(y) * sin(angle)) / spacing
                sum += cos(2 * .pi * phase)
            }
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let noise = Float(state >> 40) / Float(1 << 24) - 0.5
            image[x, y] = brightness * (2 + Float(exp(sum - 3))) + 0.05 * noise
        }
    }
    return image
}

/// Uniform noise, an amorphous area's stand-in.
func noiseImage(size: Int, level: Float = 2, seed: UInt64) -> Image {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    var image = Image(width: size, height: size)
    for i in image.pixels.indices {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        image.pixels[i] = level + Float(state >> 40) / Float(1 << 24) - 0.5
    }
    return image
}

@Suite("Segmentation that knows the sample's lattice")
struct LatticeAwareSegmentationTests {
    /// WSe2 at 0.25 Å/px: the {100} spacing is 11.4 px.
    static let pixelSize = 0.25
    static let spacing = 2.842 / 0.25

    static func extractor() -> ChipFeatureExtractor {
        var options = ChipFeatureOptions()
        options.latticePeriod = 2.842
        options.embedding = false
        return ChipFeatureExtractor(options: options)
    }

    @Test(
        "lattice order is near 1 for a hexagonal lattice at any rotation and near 0 for noise",
        arguments: [0.0, 0.3, 0.71, 1.0])
    func latticeOrder(rotation: Double) throws {
        let grid = ChipGrid(width: 128, height: 128, chipSize: 64, stride: 64)
        let lattice = Self.extractor().features(
            of: [("HAADF", hexagonalLattice(size: 128, spacing: Self.spacing, rotation: rotation))],
            pixelSize: Self.pixelSize, grid: grid)
        let order = try #require(lattice.latticeOrder)
        #expect(order.count == 4)
        for value in order { #expect(value > 0.7, "rotation \(rotation): \(order)") }
        let noise = Self.extractor().features(
            of: [("HAADF", noiseImage(size: 128, seed: 3))], pixelSize: Self.pixelSize, grid: grid)
        for value in try #require(noise.latticeOrder) { #expect(abs(value) < 0.4, "noise: \(value)") }
    }

    @Test("without a lattice period there is no lattice order")
    func noPeriod() {
        var options = ChipFeatureOptions()
        options.embedding = false
        let features = ChipFeatureExtractor(options: options).features(
            of: [("HAADF", noiseImage(size: 128, seed: 3))], pixelSize: Self.pixelSize,
            grid: ChipGrid(width: 128, height: 128, chipSize: 64, stride: 64))
        #expect(features.latticeOrder == nil)
    }

    @Test("descriptors relative to the frame do not change with its brightness, gain or dose scale")
    func brightnessInvariance() {
        // Left half lattice, right half noise: chips differ, so the test sees the values move.
        func frame(gain: Float, offset: Float) -> Image {
            let lattice = hexagonalLattice(size: 256, spacing: Self.spacing, rotation: 0.2)
            let noise = noiseImage(size: 256, seed: 5)
            var image = Image(width: 256, height: 256)
            for y in 0..<256 {
                for x in 0..<256 { image[x, y] = offset + gain * (x < 128 ? lattice[x, y] : noise[x, y]) }
            }
            return image
        }
        let grid = ChipGrid(width: 256, height: 256, chipSize: 64, stride: 64)
        let base = Self.extractor().features(
            of: [("HAADF", frame(gain: 1, offset: 0))], pixelSize: Self.pixelSize, grid: grid)
        let brighter = Self.extractor().features(
            of: [("HAADF", frame(gain: 3.5, offset: 0))], pixelSize: Self.pixelSize, grid: grid)
        var spread: Float = 0
        for (a, b) in zip(base.blocks, brighter.blocks) {
            #expect(a.name == b.name)
            for (u, v) in zip(a.values, b.values) {
                // Logarithms of powers and levels: 0.01 is a fraction of a per cent (float rounding
                // in the transform), where a brightness change moves them by whole units.
                #expect(abs(u - v) <= 0.01, "\(a.name): \(u) against \(v)")
            }
            spread = max(spread, (a.values.max() ?? 0) - (a.values.min() ?? 0))
        }
        #expect(spread > 0.1, "the chips should differ")
        // Absolute descriptors do move.
        var options = ChipFeatureOptions()
        options.latticePeriod = 2.842
        options.embedding = false
        options.relativeToFrame = false
        let absolute = ChipFeatureExtractor(options: options)
        let a = absolute.features(of: [("HAADF", frame(gain: 1, offset: 0))], pixelSize: Self.pixelSize, grid: grid)
        let b = absolute.features(of: [("HAADF", frame(gain: 3.5, offset: 0))], pixelSize: Self.pixelSize, grid: grid)
        #expect(a.blocks[1].values != b.blocks[1].values)
    }

    /// A session's options for the synthetic frames: 64 px tiles, WSe2's lattice period, no
    /// detector and no context.
    static func sessionOptions() -> SegmentationOptions {
        var options = SegmentationOptions()
        options.chipSize = 64
        options.stride = 64
        options.features.latticePeriod = 2.842
        options.features.embedding = false
        options.features.context = 0
        return options
    }

    @Test("no community mixes chips that show the lattice with chips that do not")
    func latticeSplit() throws {
        let session = SegmentationSession(options: Self.sessionOptions())
        for seed in 1...3 {
            // A quarter of noise in the lower right; the rest lattice.
            let lattice = hexagonalLattice(
                size: 256, spacing: Self.spacing, rotation: 0.1 * Double(seed), seed: UInt64(seed))
            let noise = noiseImage(size: 256, level: 2.1, seed: UInt64(seed) + 10)
            var image = Image(width: 256, height: 256)
            for y in 0..<256 {
                for x in 0..<256 { image[x, y] = x >= 128 && y >= 128 ? noise[x, y] : lattice[x, y] }
            }
            try session.add(channels: [("HAADF", image)], pixelSize: Self.pixelSize)
        }
        session.repartition()
        let showing = session.latticeCommunities()
        var latticeSide = Set<Int>()
        var noiseSide = Set<Int>()
        for frame in session.frames {
            for chip in 0..<frame.grid.count {
                let (x, y) = frame.grid.origin(of: chip)
                if x >= 128 && y >= 128 {
                    noiseSide.insert(frame.communities[chip])
                } else {
                    latticeSide.insert(frame.communities[chip])
                }
            }
        }
        #expect(latticeSide.isDisjoint(with: noiseSide), "lattice \(latticeSide), noise \(noiseSide)")
        #expect(latticeSide.isSubset(of: showing) && noiseSide.isDisjoint(with: showing), "\(showing)")
    }

    @Test("communities of one or two chips merge into the one they are most strongly linked to")
    func smallCommunitiesMerge() {
        // 0-4 and 5-9 are two communities; 10 (alone) links to 6 strongly and to 2 weakly; 11 links
        // to nothing outside itself.
        var edges: [(Int, Int, Double)] = []
        for a in 0..<5 { for b in (a + 1)..<5 { edges.append((a, b, 1)); edges.append((a + 5, b + 5, 1)) } }
        edges += [(10, 6, 0.9), (10, 2, 0.2)]
        let graph = WeightedGraph(nodeCount: 12, edges: edges)
        let membership = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 3]
        let merged = SegmentationSession.mergingSmall(membership, graph: graph, minimum: 3)
        #expect(merged == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 3])
        #expect(SegmentationSession.mergingSmall(membership, graph: graph, minimum: 1) == membership)
    }

    @Test("the automatic chip side is a sixteenth of the frame's shorter side, within 1.2 to 1.6 nm")
    func automaticChip() {
        #expect(SegmentationOptions.automaticChipSide(frameSide: 7) == 1.2)
        #expect(abs(SegmentationOptions.automaticChipSide(frameSide: 22.4) - 1.4) < 1e-12)
        #expect(SegmentationOptions.automaticChipSide(frameSide: 25.6) == 1.6)
        #expect(SegmentationOptions.automaticChipSide(frameSide: 200) == 1.6)
    }
}
