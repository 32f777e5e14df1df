import PolicyKit
import Testing
import WireProtocol

@Suite("The session's dose map")
struct DoseMapTests {
    static func visit(_ x: Double, _ y: Double, fov: Double, dose: Double) -> SessionMap.Visit {
        SessionMap.Visit(
            seq: 0, scan: ScanGeometry(centerX: x, centerY: y, fovX: fov, width: 64, height: 64, dwell: 1), dose: dose,
            defects: nil, communities: [])
    }

    @Test("overlapping visits add up where they overlap; the grid covers them all, row 0 at the smallest y")
    func overlapAddsUp() throws {
        var map = SessionMap()
        #expect(map.doseMap() == nil)
        map.record(Self.visit(0, 0, fov: 8, dose: 10))
        map.record(Self.visit(4, 0, fov: 8, dose: 5))
        map.record(Self.visit(0, 20, fov: 8, dose: 1))
        let dose = try #require(map.doseMap(cell: 1))
        #expect(dose.originX == -4 && dose.originY == -4 && dose.cell == 1)
        #expect(dose.columns == 12 && dose.rows == 28)
        #expect(dose[0, 0] == 10, "only the first visit")
        #expect(dose[6, 4] == 15, "both")
        #expect(dose[11, 4] == 5, "only the second")
        #expect(dose[2, 26] == 1, "the third, far up")
        #expect(dose[2, 12] == 0, "between")
        #expect(dose.peak == 15)
        // The electrons the map counts agree with the dose painted on it.
        let painted = dose.values.reduce(0, +) * dose.cell * dose.cell * 100
        #expect(abs(painted - map.electrons) < 1e-6 * map.electrons)
    }

    @Test("visits far apart make a coarser grid, never more than the side asked for; NaN visits are left out")
    func boundedGrid() throws {
        var map = SessionMap()
        map.record(Self.visit(-1e6, 0, fov: 1, dose: 1))
        map.record(Self.visit(1e6, 0, fov: 1, dose: 1))
        map.record(Self.visit(.nan, 0, fov: 1, dose: 1))
        let dose = try #require(map.doseMap(maximumSide: 64))
        #expect(dose.columns <= 64 && dose.rows <= 64)
        #expect(dose.values.allSatisfy { $0.isFinite })
    }
}
