import WireProtocol

/// The dose a session has delivered, on a grid over the area it visited: what a policy that
/// spreads or limits dose reads, and what a report paints.
public struct DoseMap: Sendable, Hashable {
    /// Sample coordinates of the first cell's lower-left corner, nm.
    public var originX: Double
    /// Sample coordinates of the first cell's lower-left corner, nm.
    public var originY: Double
    /// Side of a cell, nm.
    public var cell: Double
    /// Cells per row.
    public var columns: Int
    /// Rows of cells (row 0 at the smallest y).
    public var rows: Int
    /// Accumulated dose per cell, e/Å², row by row.
    public var values: [Double]

    /// The dose of the cell at `column`, `row` (0 outside the grid).
    public subscript(column: Int, row: Int) -> Double {
        guard (0..<columns).contains(column), (0..<rows).contains(row) else { return 0 }
        return values[row * columns + column]
    }

    /// The highest dose anywhere on the map.
    public var peak: Double { values.max() ?? 0 }
}

extension SessionMap {
    /// The session's dose on a grid of square cells covering every visit: `cell` nm a side (by
    /// default an eighth of the smallest field of view), made coarser when more than `maximumSide`
    /// cells a side would be needed. Visits are taken axis-aligned. Nil before the first visit.
    public func doseMap(cell: Double? = nil, maximumSide: Int = 512) -> DoseMap? {
        guard let grid = VisitGrid(visits, cell: cell, maximumSide: maximumSide) else { return nil }
        var values = [Double](repeating: 0, count: grid.columns * grid.rows)
        for visit in grid.visits where visit.dose.isFinite {
            guard let cells = grid.cells(of: visit.scan) else { continue }
            for row in cells.rows { for column in cells.columns { values[row * grid.columns + column] += visit.dose } }
        }
        return DoseMap(
            originX: grid.originX, originY: grid.originY, cell: grid.cell, columns: grid.columns, rows: grid.rows,
            values: values)
    }
}

/// Square cells over the area a set of visits covers (axis-aligned), at most `maximumSide` a side
/// however far apart the visits are (a peer's coordinates can be anything), and the cells each
/// visit covers. Visits with non-finite or empty geometry are left out.
struct VisitGrid {
    let visits: [SessionMap.Visit]
    let originX: Double
    let originY: Double
    let cell: Double
    let columns: Int
    let rows: Int

    /// A grid of `cell` nm (default: an eighth of the smallest field of view); nil without visits.
    init?(_ all: [SessionMap.Visit], cell: Double?, maximumSide: Int) {
        visits = all.filter {
            [$0.scan.centerX, $0.scan.centerY, $0.scan.fovX, $0.scan.fovY].allSatisfy(\.isFinite)
                && $0.scan.fovX > 0 && $0.scan.fovY > 0
        }
        guard let smallest = visits.map({ min($0.scan.fovX, $0.scan.fovY) }).min(),
            let minX = visits.map({ $0.scan.centerX - $0.scan.fovX / 2 }).min(),
            let maxX = visits.map({ $0.scan.centerX + $0.scan.fovX / 2 }).max(),
            let minY = visits.map({ $0.scan.centerY - $0.scan.fovY / 2 }).min(),
            let maxY = visits.map({ $0.scan.centerY + $0.scan.fovY / 2 }).max()
        else { return nil }
        let span = max(maxX - minX, maxY - minY)
        guard span.isFinite, span > 0 else { return nil }
        let most = max(1, maximumSide)
        var side = cell.flatMap { $0.isFinite && $0 > 0 ? $0 : nil } ?? smallest / 8
        if span / side > Double(most) { side = span / Double(most) }
        originX = minX
        originY = minY
        self.cell = side
        columns = max(1, min(most, Int(((maxX - minX) / side).rounded(.up))))
        rows = max(1, min(most, Int(((maxY - minY) / side).rounded(.up))))
    }

    /// The columns and rows of the cells whose centres `scan` covers; nil when none.
    func cells(of scan: ScanGeometry) -> (columns: Range<Int>, rows: Range<Int>)? {
        let x0 = max(0, Int(((scan.centerX - scan.fovX / 2 - originX) / cell).rounded()))
        let x1 = min(columns, Int(((scan.centerX + scan.fovX / 2 - originX) / cell).rounded()))
        let y0 = max(0, Int(((scan.centerY - scan.fovY / 2 - originY) / cell).rounded()))
        let y1 = min(rows, Int(((scan.centerY + scan.fovY / 2 - originY) / cell).rounded()))
        guard x0 < x1, y0 < y1 else { return nil }
        return (x0..<x1, y0..<y1)
    }
}
