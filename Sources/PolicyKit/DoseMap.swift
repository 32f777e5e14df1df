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
        let finite = visits.filter {
            [$0.scan.centerX, $0.scan.centerY, $0.scan.fovX, $0.scan.fovY, $0.dose].allSatisfy(\.isFinite)
                && $0.scan.fovX > 0 && $0.scan.fovY > 0
        }
        guard let smallest = finite.map({ min($0.scan.fovX, $0.scan.fovY) }).min(),
            let minX = finite.map({ $0.scan.centerX - $0.scan.fovX / 2 }).min(),
            let maxX = finite.map({ $0.scan.centerX + $0.scan.fovX / 2 }).max(),
            let minY = finite.map({ $0.scan.centerY - $0.scan.fovY / 2 }).min(),
            let maxY = finite.map({ $0.scan.centerY + $0.scan.fovY / 2 }).max()
        else { return nil }
        let span = max(maxX - minX, maxY - minY)
        guard span.isFinite, span > 0 else { return nil }
        var side = cell.flatMap { $0.isFinite && $0 > 0 ? $0 : nil } ?? smallest / 8
        let most = Double(max(1, maximumSide))
        if span / side > most { side = span / most }
        let columns = max(1, min(maximumSide, Int(((maxX - minX) / side).rounded(.up))))
        let rows = max(1, min(maximumSide, Int(((maxY - minY) / side).rounded(.up))))
        var values = [Double](repeating: 0, count: columns * rows)
        for visit in finite {
            // The cells whose centres the visit covers.
            let x0 = max(0, Int(((visit.scan.centerX - visit.scan.fovX / 2 - minX) / side).rounded()))
            let x1 = min(columns, Int(((visit.scan.centerX + visit.scan.fovX / 2 - minX) / side).rounded()))
            let y0 = max(0, Int(((visit.scan.centerY - visit.scan.fovY / 2 - minY) / side).rounded()))
            let y1 = min(rows, Int(((visit.scan.centerY + visit.scan.fovY / 2 - minY) / side).rounded()))
            guard x0 < x1, y0 < y1 else { continue }
            for row in y0..<y1 { for column in x0..<x1 { values[row * columns + column] += visit.dose } }
        }
        return DoseMap(originX: minX, originY: minY, cell: side, columns: columns, rows: rows, values: values)
    }
}
