import PolicyKit
import WireProtocol

/// What the survey-then-zoom policies share: a survey at low magnification over a grid of
/// regions, the chips it found with their communities, and zoomed frames at atomic resolution.
struct SurveyThenZoom: Sendable {
    /// A zoom target: a survey chip and its community.
    struct Target: Sendable, Hashable {
        var x: Double
        var y: Double
        var community: Int
    }

    var center: (x: Double, y: Double) = (-40, 40)
    var surveyFov = 400.0
    var surveyColumns = 1
    var surveyRows = 1
    var surveyPixels = 256
    var surveyDwell = 2.0
    var zoomFov = 10.24
    var zoomPixels = 512
    var zoomDwell = 10.0
    var zooms = 12

    /// Survey chips seen so far, with their community.
    private(set) var chips: [Target] = []
    /// Zooms made so far, in order.
    private(set) var zoomed: [Target] = []
    private(set) var surveyed = 0

    var surveyCount: Int { surveyColumns * surveyRows }
    var surveyDone: Bool { surveyed >= surveyCount }

    /// The `index`-th survey region (serpentine, no overlap).
    func surveyRegion(_ index: Int) -> ScanGeometry {
        let row = index / surveyColumns
        let column = row % 2 == 0 ? index % surveyColumns : surveyColumns - 1 - index % surveyColumns
        let x = center.x + (Double(column) - Double(surveyColumns - 1) / 2) * surveyFov
        let y = center.y + (Double(row) - Double(surveyRows - 1) / 2) * surveyFov
        return ScanGeometry(
            centerX: x, centerY: y, fovX: surveyFov, width: surveyPixels, height: surveyPixels, dwell: surveyDwell)
    }

    /// A zoomed frame centred on `target`.
    func zoomRegion(_ target: Target) -> ScanGeometry {
        ScanGeometry(
            centerX: target.x, centerY: target.y, fovX: zoomFov, width: zoomPixels, height: zoomPixels,
            dwell: zoomDwell)
    }

    /// Takes in a survey frame's chips (frames at the survey's pixel size only).
    mutating func absorb(_ observation: Observation) {
        guard let frame = observation.frame, abs(frame.scan.fovX - surveyFov) < 1e-6 * surveyFov else { return }
        chips += observation.chips.map { Target(x: $0.x, y: $0.y, community: $0.community) }
    }

    /// The next survey region, counting it.
    mutating func nextSurvey() -> (region: ScanGeometry, reason: String) {
        let index = surveyed
        surveyed += 1
        return (
            surveyRegion(index),
            "survey \(index + 1) of \(surveyCount) at \(Int(surveyFov)) nm: find the sample's communities first"
        )
    }

    /// Survey chips not within a zoom's field of view of an earlier zoom.
    var unvisited: [Target] {
        chips.filter { chip in
            !zoomed.contains { abs($0.x - chip.x) < zoomFov && abs($0.y - chip.y) < zoomFov }
        }
    }

    /// Counts a zoom.
    mutating func zoom(_ target: Target) { zoomed.append(target) }

    /// The shared parameters, for the log.
    var parameters: [String: String] {
        [
            "center_nm": "[\(center.x), \(center.y)]", "survey_fov_nm": "\(surveyFov)",
            "survey_grid": "[\(surveyColumns), \(surveyRows)]", "survey_pixels": "\(surveyPixels)",
            "survey_dwell_us": "\(surveyDwell)", "zoom_fov_nm": "\(zoomFov)", "zoom_pixels": "\(zoomPixels)",
            "zoom_dwell_us": "\(zoomDwell)", "zooms": "\(zooms)",
        ]
    }

    /// The keys `read` understands.
    static let keys = [
        "center_nm", "survey_fov_nm", "survey_grid", "survey_pixels", "survey_dwell_us", "zoom_fov_nm", "zoom_pixels",
        "zoom_dwell_us", "zooms",
    ]

    /// Reads the shared parameters from a policy file.
    mutating func read(_ node: PolicyParameters) throws(PolicyFileError) {
        if let centre = try node.doubles("center_nm", count: 2) { center = (centre[0], centre[1]) }
        surveyFov = try node.double("survey_fov_nm", in: 1...100_000) ?? surveyFov
        if let grid = try node.ints("survey_grid") {
            guard grid.count == 2, grid.allSatisfy({ (1...100).contains($0) }) else {
                throw node.error("survey_grid", "expected [columns, rows], each 1 to 100")
            }
            (surveyColumns, surveyRows) = (grid[0], grid[1])
        }
        surveyPixels = try node.int("survey_pixels", in: 16...16_384) ?? surveyPixels
        surveyDwell = try node.double("survey_dwell_us", in: 0.01...100_000) ?? surveyDwell
        zoomFov = try node.double("zoom_fov_nm", in: 0.1...100_000) ?? zoomFov
        zoomPixels = try node.int("zoom_pixels", in: 16...16_384) ?? zoomPixels
        zoomDwell = try node.double("zoom_dwell_us", in: 0.01...100_000) ?? zoomDwell
        zooms = try node.int("zooms", in: 1...100_000) ?? zooms
        guard zoomFov < surveyFov else {
            throw node.error(
                "zoom_fov_nm", "the zoom (\(zoomFov) nm) must be smaller than the survey (\(surveyFov) nm)")
        }
    }
}
