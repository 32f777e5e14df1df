import WireProtocol

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
