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
        guard let grid = VisitGrid(visits, cell: nil, maximumSide: 2000) else { return 0 }
        var covered = [Bool](repeating: false, count: grid.columns * grid.rows)
        for visit in grid.visits {
            guard let cells = grid.cells(of: visit.scan) else { continue }
            for row in cells.rows { for column in cells.columns { covered[row * grid.columns + column] = true } }
        }
        return Double(covered.reduce(0) { $0 + ($1 ? 1 : 0) }) * grid.cell * grid.cell
    }

}
