import Foundation
import ImageNumerics
import Testing

@testable import Segmentation

@Suite("Vacuum and carbon-covered lattice kept apart from film and clean lattice")
struct SessionPartsTests {
    static let pixelSize = LatticeAwareSegmentationTests.pixelSize
    static let spacing = LatticeAwareSegmentationTests.spacing

    static func options() -> SegmentationOptions { LatticeAwareSegmentationTests.sessionOptions() }

    /// The communities of every frame's chips whose top-left pixel (`x`, `y`) is in the area.
    static func communities(in session: SegmentationSession, where inArea: (Int, Int) -> Bool) -> Set<Int> {
        var found = Set<Int>()
        for frame in session.frames {
            for chip in 0..<frame.grid.count {
                let (x, y) = frame.grid.origin(of: chip)
                if inArea(x, y) { found.insert(frame.communities[chip]) }
            }
        }
        return found
    }

    @Test("holes and amorphous film, both without a lattice, never share a community")
    func vacuum() throws {
        // Chips of 128 px (11 lattice periods), on which noise shows no lattice order.
        var options = Self.options()
        options.chipSize = 128
        options.stride = 128
        let session = SegmentationSession(options: options)
        for seed in 1...3 {
            // Lattice in the upper half, film lower left, vacuum (next to no signal) lower right.
            let lattice = hexagonalLattice(
                size: 512, spacing: Self.spacing, rotation: 0.2 * Double(seed), seed: UInt64(seed))
            let film = noiseImage(size: 512, level: 2.2, seed: UInt64(seed) + 10)
            let vacuum = noiseImage(size: 512, level: 0.3, seed: UInt64(seed) + 20)
            var image = Image(width: 512, height: 512)
            for y in 0..<512 {
                for x in 0..<512 { image[x, y] = y < 256 ? lattice[x, y] : x < 256 ? film[x, y] : vacuum[x, y] }
            }
            try session.add(channels: [("HAADF", image)], pixelSize: Self.pixelSize)
        }
        session.repartition()
        let filmSide = Self.communities(in: session) { x, y in y >= 256 && x < 256 }
        let vacuumSide = Self.communities(in: session) { x, y in y >= 256 && x >= 256 }
        #expect(filmSide.isDisjoint(with: vacuumSide), "film \(filmSide), vacuum \(vacuumSide)")
        #expect(session.latticeCommunities().isDisjoint(with: filmSide.union(vacuumSide)))
    }

    /// A two-channel frame of lattice: MAADF is HAADF's lattice at 0.8 of its contrast, with
    /// `carbon` added to MAADF (and a third of it to HAADF) where `covered(x, y)`.
    static func frame(seed: UInt64, carbon: Float, covered: (Int, Int) -> Bool) -> [(name: String, image: Image)] {
        let lattice = hexagonalLattice(size: 256, spacing: spacing, rotation: 0.15 * Double(seed), seed: seed)
        var haadf = lattice
        var maadf = lattice
        for y in 0..<256 {
            for x in 0..<256 {
                let added: Float = covered(x, y) ? carbon : 0
                haadf[x, y] = lattice[x, y] + added / 3
                maadf[x, y] = 0.8 * lattice[x, y] + added
            }
        }
        return [("HAADF", haadf), ("MAADF", maadf)]
    }

    @Test("lattice under carbon, which raises MAADF more than HAADF, is never with clean lattice")
    func covered() throws {
        let session = SegmentationSession(options: Self.options())
        for seed in 1...3 {
            try session.add(
                channels: Self.frame(seed: UInt64(seed), carbon: 0.02) { x, _ in x >= 128 }, pixelSize: Self.pixelSize)
        }
        session.repartition()
        let clean = Self.communities(in: session) { x, _ in x < 128 }
        let carbon = Self.communities(in: session) { x, _ in x >= 128 }
        #expect(clean.isDisjoint(with: carbon), "clean \(clean), covered \(carbon)")
        // Both kinds are lattice.
        #expect(clean.union(carbon).isSubset(of: session.latticeCommunities()))
    }

    @Test("clean lattice in two channels is one community: the channel ratio alone splits nothing")
    func clean() throws {
        let session = SegmentationSession(options: Self.options())
        for seed in 1...3 {
            try session.add(
                channels: Self.frame(seed: UInt64(seed), carbon: 0) { _, _ in false }, pixelSize: Self.pixelSize)
        }
        session.repartition()
        #expect(Set(session.frames.flatMap(\.communities)).count == 1)
    }

    @Test("a frame's channel ratios are taken from its own clean lattice, whatever its make-up")
    func centredRatios() {
        // Frame 0 mostly clean, frame 1 two thirds covered (ratio 0.05 higher), with different offsets.
        let ratio: [Float?] = [0.10, 0.10, 0.10, 0.10, 0.15, 0.30, 0.30, 0.35, 0.35, 0.35, 0.35, nil]
        let parts: [ChipPart?] = Array(repeating: .lattice, count: 11) + [.film]
        let frame = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]
        let centred = SegmentationSession.centredRatios(ratio, parts: parts, frame: frame)
        #expect(centred[0] == 0 && centred[4].map { abs($0 - 0.05) < 1e-6 } == true, "\(centred)")
        // Frame 1's clean lattice is its lower quarter: its covered chips are 0.05 above it.
        #expect(centred[5] == 0 && centred[7].map { abs($0 - 0.05) < 1e-6 } == true, "\(centred)")
        #expect(centred[11] == nil)
    }
}
