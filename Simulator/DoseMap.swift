/// Electron dose received by the sample, per 2 nm x 2 nm cell, in electrons per nm².
public struct DoseMap: Sendable {
    /// Cell side, nm.
    public static let cell = 2.0
    private var cells: [Key: Double] = [:]

    private struct Key: Hashable, Sendable {
        let x: Int
        let y: Int
    }

    /// An empty map.
    public init() {}

    /// Dose at (x, y), e/nm².
    public func dose(atX x: Double, y: Double) -> Double {
        cells[Key(x: Int((x / Self.cell).rounded(.down)), y: Int((y / Self.cell).rounded(.down)))] ?? 0
    }

    /// Adds `dose` e/nm² to every cell whose centre `contains` holds, within the bounding box.
    mutating func add(
        _ dose: Double, x: ClosedRange<Double>, y: ClosedRange<Double>, contains: (Double, Double) -> Bool
    ) {
        let x0 = Int((x.lowerBound / Self.cell).rounded(.down))
        let x1 = Int((x.upperBound / Self.cell).rounded(.down))
        let y0 = Int((y.lowerBound / Self.cell).rounded(.down))
        let y1 = Int((y.upperBound / Self.cell).rounded(.down))
        for cy in y0...y1 {
            for cx in x0...x1 where contains((Double(cx) + 0.5) * Self.cell, (Double(cy) + 0.5) * Self.cell) {
                cells[Key(x: cx, y: cy), default: 0] += dose
            }
        }
    }

    /// The total dose delivered, electrons (sum over cells of dose x cell area).
    public var totalElectrons: Double { cells.values.reduce(0, +) * Self.cell * Self.cell }
}
