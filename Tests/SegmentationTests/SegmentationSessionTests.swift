import Foundation
import ImageNumerics
import Segmentation
import Testing

/// Frames made of two kinds of area at 0.25 Å/px: a hexagonal lattice (WSe2's {100} spacing,
/// turned a little differently in every frame) on the left and darker noise on the right, with a
/// boundary at `split` pixels.
func twoKindFrame(size: Int = 512, split: Int = 256, seed: UInt64) -> Image {
    let lattice = hexagonalLattice(size: size, spacing: 2.842 / 0.25, rotation: 0.13 * Double(seed), seed: seed)
    let noise = noiseImage(size: size, level: 1, seed: seed + 100)
    var image = Image(width: size, height: size)
    for y in 0..<size {
        for x in 0..<size { image[x, y] = x < split ? lattice[x, y] : noise[x, y] }
    }
    return image
}

@Suite("Session-wide communities")
struct SegmentationSessionTests {
    static func options(capacity: Int = 10_000, every: Int = 2) -> SegmentationOptions {
        var options = SegmentationOptions()
        // 3.2 nm chips: on smaller ones white noise now and then shows a lattice's order.
        options.chipSize = 128
        options.stride = 128
        // As `scopepilot segment` runs: the sample's lattice known, so that each frame is described
        // relative to its lattice chips (half of each frame here; relative to all chips, the
        // frame's median would fall between the two kinds and move from frame to frame).
        options.features.latticePeriod = 2.842
        // Chips straddling the sharp boundary would mix both kinds in their context.
        options.features.context = 0
        options.reservoirCapacity = capacity
        options.repartitionEvery = every
        return options
    }

    @Test("two kinds of area get two communities, with the same ids in frames far apart")
    func stableIDs() throws {
        let session = SegmentationSession(options: Self.options())
        for seed in 1...6 {
            try session.add(channels: [("HAADF", twoKindFrame(seed: UInt64(seed)))], pixelSize: 0.25)
        }
        session.repartition()
        let first = session.frames[0]
        let left = Set(
            (0..<first.grid.count).filter { first.grid.origin(of: $0).x < 256 }.map { first.communities[$0] })
        let right = Set(
            (0..<first.grid.count).filter { first.grid.origin(of: $0).x >= 256 }.map { first.communities[$0] })
        #expect(left.count == 1 && right.count == 1 && left != right, "\(first.communities)")
        for frame in session.frames {
            for chip in 0..<frame.grid.count {
                let expected = frame.grid.origin(of: chip).x < 256 ? left.first! : right.first!
                #expect(frame.communities[chip] == expected, "frame \(frame.frame) chip \(chip)")
            }
        }
    }

    @Test("ids survive re-partitions: a frame's communities read the same before and after")
    func idsSurviveRepartition() throws {
        let session = SegmentationSession(options: Self.options(every: 100))
        try session.add(channels: [("HAADF", twoKindFrame(seed: 1))], pixelSize: 0.25)
        let before = session.frames[0].communities
        for seed in 2...4 { try session.add(channels: [("HAADF", twoKindFrame(seed: UInt64(seed)))], pixelSize: 0.25) }
        session.repartition()
        #expect(session.repartitions == 2)
        #expect(session.frames[0].communities == before)
    }

    @Test("the reservoir stays within its capacity and keeps both kinds of area")
    func boundedMemory() throws {
        let session = SegmentationSession(options: Self.options(capacity: 40, every: 3))
        for seed in 1...12 {
            // Mostly lattice: the noise kind is rare.
            try session.add(channels: [("HAADF", twoKindFrame(split: 384, seed: UInt64(seed)))], pixelSize: 0.25)
        }
        #expect(session.reservoirCount == 40)
        // Both kinds survive eviction: the rare noise still has communities of its own.
        let last = session.frames.last!
        let noise = Set((0..<last.grid.count).filter { last.grid.origin(of: $0).x >= 384 }.map { last.communities[$0] })
        let lattice = Set(
            (0..<last.grid.count).filter { last.grid.origin(of: $0).x < 384 }.map { last.communities[$0] })
        #expect(!noise.isEmpty && noise.isDisjoint(with: lattice), "noise \(noise), lattice \(lattice)")
    }

    @Test("bad frames are refused with a reason and leave the session as it was")
    func badFrames() throws {
        let session = SegmentationSession(options: Self.options())
        try session.add(channels: [("HAADF", twoKindFrame(seed: 1))], pixelSize: 0.25)
        var nan = twoKindFrame(seed: 2)
        nan[3, 3] = .nan
        let cases: [([(name: String, image: Image)], Double, String)] = [
            ([("HAADF", nan)], 0.25, "NaN"),
            ([("HAADF", Image(width: 8, height: 8))], 0.25, "smaller than one chip"),
            ([("HAADF", twoKindFrame(seed: 3)), ("MAADF", Image(width: 64, height: 64))], 0.25, "channel MAADF"),
            ([("HAADF", twoKindFrame(seed: 3)), ("MAADF", twoKindFrame(seed: 4))], 0.25, "differ from the session"),
            ([("HAADF", twoKindFrame(seed: 3))], -1, "pixel size"),
            ([], 0.25, "no channels"),
        ]
        for (channels, pixelSize, reason) in cases {
            #expect {
                try session.add(channels: channels, pixelSize: pixelSize)
            } throws: { error in
                "\(error)".contains(reason)
            }
        }
        #expect(session.frames.count == 1)
    }
}
