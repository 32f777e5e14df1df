import Foundation
import ImageNumerics
import Segmentation
import Testing

/// Frames made of two kinds of area: a lattice (a strong periodic pattern) on the left and noise
/// on the right, with a boundary at `split` pixels.
func twoKindFrame(size: Int = 128, split: Int = 64, seed: UInt64) -> Image {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    func noise() -> Float {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(state >> 40) / Float(1 << 24) - 0.5
    }
    var image = Image(width: size, height: size)
    for y in 0..<size {
        for x in 0..<size {
            let lattice = sin(Float(x) * 0.9) * sin(Float(y) * 0.9 + Float(seed))
            image[x, y] = x < split ? 10 + 3 * lattice + 0.3 * noise() : 6 + 2 * noise()
        }
    }
    return image
}

@Suite("Session-wide communities")
struct SegmentationSessionTests {
    static func options(capacity: Int = 10_000, every: Int = 2) -> SegmentationOptions {
        var options = SegmentationOptions()
        options.chipSize = 16
        options.stride = 16
        options.graph = .nearestNeighbours(8)
        // Two kinds only, one of them pure noise: at resolution 1 modularity splits the noise into
        // several communities (it finds structure in any large random graph).
        options.quality = .modularity(resolution: 0.5)
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
            try session.add(channels: [("HAADF", twoKindFrame(seed: UInt64(seed)))], pixelSize: 0.3)
        }
        session.repartition()
        let first = session.frames[0]
        let left = Set((0..<first.grid.count).filter { first.grid.origin(of: $0).x < 64 }.map { first.communities[$0] })
        let right = Set(
            (0..<first.grid.count).filter { first.grid.origin(of: $0).x >= 64 }.map { first.communities[$0] })
        #expect(left.count == 1 && right.count == 1 && left != right, "\(first.communities)")
        for frame in session.frames {
            for chip in 0..<frame.grid.count {
                let expected = frame.grid.origin(of: chip).x < 64 ? left.first! : right.first!
                #expect(frame.communities[chip] == expected, "frame \(frame.frame) chip \(chip)")
            }
        }
    }

    @Test("ids survive re-partitions: a frame's communities read the same before and after")
    func idsSurviveRepartition() throws {
        let session = SegmentationSession(options: Self.options(every: 100))
        try session.add(channels: [("HAADF", twoKindFrame(seed: 1))], pixelSize: 0.3)
        let before = session.frames[0].communities
        for seed in 2...4 { try session.add(channels: [("HAADF", twoKindFrame(seed: UInt64(seed)))], pixelSize: 0.3) }
        session.repartition()
        #expect(session.repartitions == 2)
        #expect(session.frames[0].communities == before)
    }

    @Test("the reservoir stays within its capacity and keeps both kinds of area")
    func boundedMemory() throws {
        let session = SegmentationSession(options: Self.options(capacity: 40, every: 3))
        for seed in 1...12 {
            // Mostly lattice: the noise kind is rare.
            try session.add(channels: [("HAADF", twoKindFrame(split: 112, seed: UInt64(seed)))], pixelSize: 0.3)
        }
        #expect(session.reservoirCount == 40)
        #expect(Set(session.frames.last!.communities).count == 2)
    }

    @Test("bad frames are refused with a reason and leave the session as it was")
    func badFrames() throws {
        let session = SegmentationSession(options: Self.options())
        try session.add(channels: [("HAADF", twoKindFrame(seed: 1))], pixelSize: 0.3)
        var nan = twoKindFrame(seed: 2)
        nan[3, 3] = .nan
        let cases: [([(name: String, image: Image)], Double, String)] = [
            ([("HAADF", nan)], 0.3, "NaN"),
            ([("HAADF", Image(width: 8, height: 8))], 0.3, "smaller than one chip"),
            ([("HAADF", twoKindFrame(seed: 3)), ("MAADF", Image(width: 64, height: 64))], 0.3, "channel MAADF"),
            ([("HAADF", twoKindFrame(seed: 3)), ("MAADF", twoKindFrame(seed: 4))], 0.3, "differ from the session"),
            ([("HAADF", twoKindFrame(seed: 3))], -1, "pixel size"),
            ([], 0.3, "no channels"),
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
