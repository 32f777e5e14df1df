import Foundation
public import ImageNumerics
public import Segmentation
import Simulator
import WireProtocol

/// The standard mixed-region evaluation session: frames of the virtual microscope's standard
/// sample inside its central vacancy-rich, damaged and contaminated zones (where the zone is fully
/// developed: damage and contamination thin out towards a zone's rim, and a chip there is
/// physically pristine whatever its label), in pristine lattice away from every zone, and across
/// the edge of the first hole, so that one session holds pristine lattice, vacancy-rich lattice,
/// damaged lattice, contamination and vacuum, with ground truth for every pixel.
public struct MixedRegionSession: Sendable {
    /// One frame and its truth.
    public struct Frame: Sendable {
        /// HAADF and MAADF.
        public let channels: [(name: String, image: Image)]
        /// `RegionKind` raw value per pixel.
        public let regions: [UInt8]
        /// Pixel size, Å.
        public let pixelSize: Double
    }

    /// The frames.
    public let frames: [Frame]

    /// Renders the session: `pixels` square frames at `pixelSize` Å with `dwell` µs per pixel.
    public init(pixels: Int = 1024, pixelSize: Double = 0.25, dwell: Double = 20, seed: UInt64 = 1) {
        let layout = SampleLayout.standard(seed: seed)
        let scope = VirtualMicroscope(sample: Sample(layout: layout), noiseSeed: seed &+ 17)
        let fov = Double(pixels) * pixelSize / 10
        var centres: [(Double, Double)] = []
        // Two frames well inside each zone: centres within 0.3 of the radius of its middle.
        for disc in [layout.vacancyRich[0], layout.damaged[0], layout.contamination[0]] {
            for angle in [0.4, 3.5] {
                centres.append((disc.x + 0.3 * disc.radius * cos(angle), disc.y + 0.3 * disc.radius * sin(angle)))
            }
        }
        // Pristine lattice between the zones, and the first hole's edge.
        let sample = Sample(layout: layout)
        for candidate in [(250.0, 0.0), (-20.0, -250.0), (0.0, 300.0), (-300.0, -100.0), (200.0, 250.0)]
        where centres.count < 8 {
            let corners = [(-1.0, -1.0), (1, -1), (-1, 1), (1, 1), (0, 0)].map {
                sample.region(atX: candidate.0 + $0.0 * fov / 2, y: candidate.1 + $0.1 * fov / 2)
            }
            if corners.allSatisfy({ $0 == .pristine }) { centres.append(candidate) }
        }
        let hole = layout.holes[0]
        centres.append((hole.x + hole.radius, hole.y))
        frames = centres.map { x, y in
            let scan = ScanGeometry(centerX: x, centerY: y, fovX: fov, width: pixels, height: pixels, dwell: dwell)
            let frame = scope.acquire(scan, channels: ["HAADF", "MAADF"], deposit: false)
            return Frame(
                channels: ["HAADF", "MAADF"].compactMap { name in frame.channels[name].map { (name, $0) } },
                regions: frame.truth.regions, pixelSize: pixelSize)
        }
    }

    /// The majority region of each chip of `grid` in frame `index`.
    public func chipRegions(_ index: Int, grid: ChipGrid) -> [Int] {
        let frame = frames[index]
        let width = frame.channels[0].image.width
        return (0..<grid.count).map { chip in
            let (x0, y0) = grid.origin(of: chip)
            var counts = [Int](repeating: 0, count: RegionKind.allCases.count)
            for y in y0..<(y0 + grid.chipSize) {
                for x in x0..<(x0 + grid.chipSize) { counts[Int(frame.regions[y * width + x])] += 1 }
            }
            return counts.indices.max { counts[$0] < counts[$1] } ?? 0
        }
    }
}
