public import PolicyKit
public import WireProtocol
import YAMLConfig

/// Scans a grid of regions row by row, turning at the end of each row (a serpentine), with a set
/// overlap between neighbours so that drift can be measured from every pair; ends the session
/// when every region has been scanned.
public struct RasterSurvey: ScanPolicy {
    public let name = "raster-survey"
    public let version = "1.0"
    /// Centre of the grid, nm.
    public var center: (x: Double, y: Double)
    /// Regions per row.
    public var columns: Int
    /// Rows.
    public var rows: Int
    /// Field of view of each region, nm.
    public var fov: Double
    /// Pixels per side.
    public var pixels: Int
    /// Dwell, µs.
    public var dwell: Double
    /// Fraction of a field of view that neighbours share, 0 ... 0.9.
    public var overlap: Double
    private var next = 0

    /// A raster of `columns` x `rows` regions around `center`.
    public init(
        center: (x: Double, y: Double) = (-120, 60), columns: Int = 3, rows: Int = 2, fov: Double = 10.24,
        pixels: Int = 512, dwell: Double = 10, overlap: Double = 0.25
    ) {
        self.center = center
        self.columns = columns
        self.rows = rows
        self.fov = fov
        self.pixels = pixels
        self.dwell = dwell
        self.overlap = overlap
    }

    public var parameters: [String: String] {
        [
            "center_nm": "[\(center.x), \(center.y)]", "columns": "\(columns)", "rows": "\(rows)",
            "fov_nm": "\(fov)", "pixels": "\(pixels)", "dwell_us": "\(dwell)", "overlap": "\(overlap)",
        ]
    }

    /// The `index`-th region of the serpentine.
    public func region(_ index: Int) -> ScanGeometry {
        let row = index / columns
        let column = row % 2 == 0 ? index % columns : columns - 1 - index % columns
        let step = fov * (1 - overlap)
        let x = center.x + (Double(column) - Double(columns - 1) / 2) * step
        let y = center.y + (Double(row) - Double(rows - 1) / 2) * step
        return ScanGeometry(centerX: x, centerY: y, fovX: fov, width: pixels, height: pixels, dwell: dwell)
    }

    public mutating func decide(_ observation: Observation) -> PolicyDecision {
        var note = ""
        switch observation.lastOutcome {
        case .failed(_, let code, let reason)?: note = " (the previous region failed: \(code), \(reason))"
        case .refused(_, let reason)?: note = " (the previous region was refused: \(reason))"
        default: break
        }
        guard next < columns * rows else {
            return PolicyDecision(.endSession, reason: "raster complete: \(columns * rows) regions visited\(note)")
        }
        let index = next
        next += 1
        let row = index / columns
        return PolicyDecision(
            .scan(region(index)),
            reason: "raster region \(index + 1) of \(columns * rows): row \(row + 1), "
                + "\(row % 2 == 0 ? "left to right" : "right to left")\(note)")
    }

    /// Reads `parameters:` of a policy file.
    public static let factory = PolicyFactory(
        name: "raster-survey", summary: "a serpentine grid of overlapping regions, then the session ends"
    ) { (node: ConfigNode?) throws(ConfigError) -> any ScanPolicy in
        var policy = RasterSurvey()
        guard let node else { return policy }
        try node.onlyKeys(["center_nm", "columns", "rows", "fov_nm", "pixels", "dwell_us", "overlap"])
        if let centre = try node.doubles("center_nm", count: 2) { policy.center = (centre[0], centre[1]) }
        policy.columns = try node.int("columns", in: 1...1000) ?? policy.columns
        policy.rows = try node.int("rows", in: 1...1000) ?? policy.rows
        policy.fov = try node.double("fov_nm", in: 0.1...100_000) ?? policy.fov
        policy.pixels = try node.int("pixels", in: 16...16_384) ?? policy.pixels
        policy.dwell = try node.double("dwell_us", in: 0.01...100_000) ?? policy.dwell
        policy.overlap = try node.double("overlap", in: 0...0.9) ?? policy.overlap
        return policy
    }
}
