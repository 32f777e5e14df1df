import Foundation
public import PolicyKit
public import WireProtocol

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
    /// Whether the next region is decided as soon as the driver has queued the previous one (the
    /// default), or only once the previous frame has been analysed.
    public var decidesAhead = true
    private var next = 0
    private var visited = 0
    private var refused = 0
    private var failed = 0
    private var note = ""

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
            "decide_ahead": "\(decidesAhead)",
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

    /// A raster plans ahead: the next region does not depend on the last frame's analysis.
    public var waitsForAnalysis: Bool { !decidesAhead }

    public mutating func decide(_ observation: Observation) -> PolicyDecision {
        for outcome in observation.outcomes {
            switch outcome {
            case .done(.scan):
                visited += 1
                note = ""
            case .done:
                break
            case .refused(let action, let reason):
                if case .scan = action { refused += 1 }
                note = " (the previous region was refused: \(reason))"
            case .failed(let action, let code, let reason):
                if case .scan = action { failed += 1 }
                note = " (the previous region failed: \(code), \(reason))"
            }
        }
        let total = columns * rows
        guard next < total else {
            var ending = "raster complete: \(visited) of \(total) regions visited"
            if refused > 0 { ending += ", \(refused) refused by the envelope" }
            if failed > 0 { ending += ", \(failed) failed" }
            return PolicyDecision(.endSession, reason: ending + note)
        }
        let target = region(next)
        // A region beyond the envelope's longest move is reached in moves of the stage.
        if let position = observation.position {
            let (dx, dy) = (target.centerX - position.x, target.centerY - position.y)
            let distance = (dx * dx + dy * dy).squareRoot()
            let longest = observation.envelope.maximumStep
            if distance > 0.95 * longest {
                let fraction = 0.9 * longest / distance
                return PolicyDecision(
                    .moveStage(x: position.x + fraction * dx, y: position.y + fraction * dy),
                    reason: "moving towards raster region \(next + 1), "
                        + String(
                            format: "%.0f nm away: the envelope allows moves of at most %.0f nm", distance, longest))
            }
        }
        let index = next
        next += 1
        let row = index / columns
        return PolicyDecision(
            .scan(target),
            reason: "raster region \(index + 1) of \(total): row \(row + 1), "
                + "\(row % 2 == 0 ? "left to right" : "right to left")\(note)")
    }

    /// Reads `parameters:` of a policy file.
    public static let factory = PolicyFactory(
        name: "raster-survey", summary: "a serpentine grid of overlapping regions, then the session ends"
    ) { (node: PolicyParameters?) throws(PolicyFileError) -> any ScanPolicy in
        var policy = RasterSurvey()
        guard let node else { return policy }
        try node.only(["center_nm", "columns", "rows", "fov_nm", "pixels", "dwell_us", "overlap", "decide_ahead"])
        if let centre = try node.doubles("center_nm", count: 2) { policy.center = (centre[0], centre[1]) }
        policy.columns = try node.int("columns", in: 1...1000) ?? policy.columns
        policy.rows = try node.int("rows", in: 1...1000) ?? policy.rows
        policy.fov = try node.double("fov_nm", in: 0.1...100_000) ?? policy.fov
        policy.pixels = try node.int("pixels", in: 16...16_384) ?? policy.pixels
        policy.dwell = try node.double("dwell_us", in: 0.01...100_000) ?? policy.dwell
        policy.overlap = try node.double("overlap", in: 0...0.9) ?? policy.overlap
        policy.decidesAhead = try node.bool("decide_ahead") ?? policy.decidesAhead
        return policy
    }
}
