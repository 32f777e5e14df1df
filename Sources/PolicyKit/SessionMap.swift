public import WireProtocol

/// Everything the session has visited: regions, dose, defects, communities.
public struct SessionMap: Sendable {
    /// One scanned region.
    public struct Visit: Sendable, Hashable {
        /// The frame's sequence number.
        public var seq: UInt64
        /// The region.
        public var scan: ScanGeometry
        /// The dose it received, e/Å².
        public var dose: Double
        /// Defects detected in it (nil: not analysed by the detector).
        public var defects: Int?
        /// Community ids seen in it.
        public var communities: [Int]

        /// Creates a visit.
        public init(seq: UInt64, scan: ScanGeometry, dose: Double, defects: Int?, communities: [Int]) {
            self.seq = seq
            self.scan = scan
            self.dose = dose
            self.defects = defects
            self.communities = communities
        }

        /// Whether (x, y), nm, lies inside the region (rotation ignored).
        public func contains(x: Double, y: Double) -> Bool {
            abs(x - scan.centerX) <= scan.fovX / 2 && abs(y - scan.centerY) <= scan.fovY / 2
        }

        /// Detected defects per nm² (nil when not analysed).
        public var defectDensity: Double? { defects.map { Double($0) / (scan.fovX * scan.fovY) } }
    }

    /// Visits in order.
    public private(set) var visits: [Visit] = []
    /// Chips seen per community over the session.
    public private(set) var communityChips: [Int: Int] = [:]
    /// Electrons delivered over the session.
    public private(set) var electrons: Double = 0

    /// An empty map.
    public init() {}

    /// Records a visit and its communities' chips.
    package mutating func record(_ visit: Visit, chips: [Int: Int] = [:]) {
        visits.append(visit)
        electrons += visit.dose * visit.scan.fovX * visit.scan.fovY * 100  // e/Å² x nm² x 100 Å²/nm²
        for (id, count) in chips { communityChips[id, default: 0] += count }
    }

    /// Adds analysis results to visit `index`.
    package mutating func update(visit index: Int, defects: Int?, communities: [Int], chips: [Int: Int]) {
        guard visits.indices.contains(index) else { return }
        visits[index].defects = defects
        visits[index].communities = communities
        for (id, count) in chips { communityChips[id, default: 0] += count }
    }

    /// Accumulated dose at (x, y), e/Å².
    public func dose(atX x: Double, y: Double) -> Double {
        visits.reduce(0) { $0 + ($1.contains(x: x, y: y) ? $1.dose : 0) }
    }

    /// The largest accumulated dose anywhere inside `region`, e/Å², sampled at its centre, corners
    /// and edge midpoints plus every earlier visit's centre that falls inside it.
    public func peakDose(in region: ScanGeometry) -> Double {
        var points: [(Double, Double)] = []
        for fx in [-0.5, 0, 0.5] {
            for fy in [-0.5, 0, 0.5] {
                points.append((region.centerX + fx * region.fovX, region.centerY + fy * region.fovY))
            }
        }
        let inside = Visit(seq: 0, scan: region, dose: 0, defects: nil, communities: [])
        for visit in visits where inside.contains(x: visit.scan.centerX, y: visit.scan.centerY) {
            points.append((visit.scan.centerX, visit.scan.centerY))
        }
        return points.map { dose(atX: $0.0, y: $0.1) }.max() ?? 0
    }

    /// Defects detected over the session.
    public var defectsFound: Int { visits.reduce(0) { $0 + ($1.defects ?? 0) } }

    /// Area covered by at least one visit, nm² (the union, on a grid of 1/8 of the smallest field
    /// of view).
    public var coveredArea: Double {
        guard let smallest = visits.map({ min($0.scan.fovX, $0.scan.fovY) }).min(), smallest > 0,
            let minX = visits.map({ $0.scan.centerX - $0.scan.fovX / 2 }).min(),
            let maxX = visits.map({ $0.scan.centerX + $0.scan.fovX / 2 }).max(),
            let minY = visits.map({ $0.scan.centerY - $0.scan.fovY / 2 }).min(),
            let maxY = visits.map({ $0.scan.centerY + $0.scan.fovY / 2 }).max(),
            [minX, maxX, minY, maxY].allSatisfy(\.isFinite)
        else { return 0 }
        // At most 2000 x 2000 cells, however far apart the visits (a peer's coordinates can be anything).
        let span = max(maxX - minX, maxY - minY)
        guard span.isFinite else { return 0 }
        var cell = smallest / 8
        if span / cell > 2000 { cell = span / 2000 }
        let columns = Int(((maxX - minX) / cell).rounded(.up))
        let rows = Int(((maxY - minY) / cell).rounded(.up))
        var covered = [Bool](repeating: false, count: columns * rows)
        for visit in visits {
            let x0 = max(0, Int(((visit.scan.centerX - visit.scan.fovX / 2 - minX) / cell).rounded()))
            let x1 = min(columns, Int(((visit.scan.centerX + visit.scan.fovX / 2 - minX) / cell).rounded()))
            let y0 = max(0, Int(((visit.scan.centerY - visit.scan.fovY / 2 - minY) / cell).rounded()))
            let y1 = min(rows, Int(((visit.scan.centerY + visit.scan.fovY / 2 - minY) / cell).rounded()))
            guard x0 < x1, y0 < y1 else { continue }
            for row in y0..<y1 { for column in x0..<x1 { covered[row * columns + column] = true } }
        }
        return Double(covered.reduce(0) { $0 + ($1 ? 1 : 0) }) * cell * cell
    }
}
