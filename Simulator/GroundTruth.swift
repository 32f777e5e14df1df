public import Foundation
public import WireProtocol

/// What is really in a simulated frame, in the frame's pixel coordinates (column x, row y, pixel
/// centres at integers, origin top-left). Kept apart from the frame: the daemon never sees it.
public struct GroundTruth: Sendable {
    /// An atom column inside the frame.
    public struct Column: Sendable, Hashable {
        /// Pixel column.
        public var x: Double
        /// Pixel row.
        public var y: Double
        /// What it is.
        public var kind: AtomColumn.Kind
    }

    /// A point defect inside the frame.
    public struct Defect: Sendable, Hashable {
        /// Pixel column.
        public var x: Double
        /// Pixel row.
        public var y: Double
        /// Its type.
        public var kind: PointDefect.Kind
    }

    /// Pixel size, Å (x).
    public var pixelSize: Double
    /// Lattice atom columns (not the contamination's carbon).
    public var columns: [Column]
    /// Point defects.
    public var defects: [Defect]
    /// `RegionKind` raw value of every pixel, row-major.
    public var regions: [UInt8]
    /// Frame size.
    public var width: Int
    /// Frame size.
    public var height: Int
}

/// The JSON form of a frame's ground truth, the same for `sim render`'s labels.json and the
/// simulated driver's SESSION/SEQ.json: pixel size, scan, and defects and atom columns in pixel
/// coordinates (x = column, y = row, origin top-left, pixel centres at integers).
public struct GroundTruthRecord: Encodable, Sendable {
    /// A defect or column.
    public struct Point: Encodable, Sendable {
        let x: Double
        let y: Double
        let type: String
    }

    /// Pixels of each region kind.
    public struct RegionCount: Encodable, Sendable {
        let label: Int
        let name: String
        let pixels: Int
    }

    let seq: UInt64?
    let session: String?
    let pixelSizeAngstrom: Double
    let width: Int
    let height: Int
    let scan: ScanGeometry
    let conditions: String?
    let defects: [Point]
    let columns: [Point]
    let regions: [RegionCount]

    enum CodingKeys: String, CodingKey {
        case seq, session, pixelSizeAngstrom = "pixel_size_angstrom", width, height, scan, conditions, defects, columns
        case regions
    }

    /// The record of `truth` for a frame scanned with `scan`; `seq` and `session` when it was published.
    public init(
        _ truth: GroundTruth, scan: ScanGeometry, conditions: String? = nil, seq: UInt64? = nil, session: String? = nil
    ) {
        self.seq = seq
        self.session = session
        pixelSizeAngstrom = truth.pixelSize
        width = truth.width
        height = truth.height
        self.scan = scan
        self.conditions = conditions
        defects = truth.defects.map { Point(x: $0.x, y: $0.y, type: $0.kind.rawValue) }
        columns = truth.columns.map { Point(x: $0.x, y: $0.y, type: $0.kind.rawValue) }
        let counts = Dictionary(grouping: truth.regions, by: { $0 }).mapValues(\.count)
        regions = RegionKind.allCases.map {
            RegionCount(label: $0.rawValue, name: $0.description, pixels: counts[UInt8($0.rawValue)] ?? 0)
        }
    }

    /// The record as JSON, keys sorted.
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(self)
    }
}
