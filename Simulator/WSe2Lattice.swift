import Foundation

/// The 2H-WSe2 monolayer seen along c: a honeycomb of W columns and Se2 columns (two Se atoms
/// stacked), lattice constant a = 3.28 Å.
///
/// Site (i, j) of the W sublattice sits at i·a1 + j·a2 with a1 = a(1, 0), a2 = a(1/2, √3/2);
/// the Se2 site of the same cell at that position plus (a1 + a2) / 3. Positions are in nm.
public enum WSe2Lattice {
    /// Lattice constant, nm.
    public static let a = 0.328
    /// Atomic numbers.
    public static let tungsten = 74
    /// Selenium.
    public static let selenium = 34
    /// Carbon (contamination).
    public static let carbon = 6
    /// Area of one unit cell (one W, two Se), nm².
    public static let cellArea = a * a * 3.0.squareRoot() / 2

    /// Position of the W site of cell (i, j), nm, in the sample frame.
    static func tungstenSite(_ i: Int, _ j: Int) -> (x: Double, y: Double) {
        (a * (Double(i) + 0.5 * Double(j)), a * 3.0.squareRoot() / 2 * Double(j))
    }

    /// Position of the Se2 site of cell (i, j).
    static func seleniumSite(_ i: Int, _ j: Int) -> (x: Double, y: Double) {
        let w = tungstenSite(i, j)
        return (w.x + a / 2, w.y + a * 3.0.squareRoot() / 6)
    }

    /// The cell indices (i, j) whose sites may fall in the rectangle, with a margin of one cell.
    static func cells(inX x: ClosedRange<Double>, y: ClosedRange<Double>) -> (ClosedRange<Int>, ClosedRange<Int>) {
        let h = a * 3.0.squareRoot() / 2
        let j0 = Int(floor(y.lowerBound / h)) - 1
        let j1 = Int(ceil(y.upperBound / h)) + 1
        // x = a(i + j/2): i ranges over the x span shifted by the most extreme j.
        let i0 = Int(floor(x.lowerBound / a - 0.5 * Double(max(j0, j1, 0)))) - 2
        let i1 = Int(ceil(x.upperBound / a - 0.5 * Double(min(j0, j1, 0)))) + 2
        return (i0...i1, j0...j1)
    }
}
