import Foundation

/// One atom column as the beam sees it.
public struct AtomColumn: Sendable, Hashable {
    /// What the column is.
    public enum Kind: String, Sendable, Codable {
        /// A tungsten atom.
        case w = "W"
        /// Two stacked selenium atoms.
        case se2 = "Se2"
        /// One selenium atom (a single chalcogen vacancy).
        case se1 = "Se1"
        /// A carbon atom of the contamination.
        case carbon = "C"
    }

    /// Position, nm, sample frame.
    public var x: Double
    /// Position, nm.
    public var y: Double
    /// What the column holds.
    public var kind: Kind
    /// Atomic number of its atoms.
    public var z: Int {
        kind == .w ? WSe2Lattice.tungsten : kind == .carbon ? WSe2Lattice.carbon : WSe2Lattice.selenium
    }
    /// Atoms in the column.
    public var count: Int { kind == .se2 ? 2 : 1 }
}

/// A point defect of the ground truth.
public struct PointDefect: Sendable, Hashable {
    /// The defect types the detector learns.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// Single chalcogen vacancy: an Se2 site with one Se left.
        case se1 = "Se1"
        /// Double chalcogen vacancy: an empty Se2 site.
        case se2 = "Se2"
        /// Metal vacancy: an empty W site.
        case w = "W"
    }

    /// Site position, nm.
    public var x: Double
    /// Site position, nm.
    public var y: Double
    /// The type.
    public var kind: Kind
}

/// The virtual WSe2 sample: generated on demand from its layout and seed, and from the dose it
/// has received (knock-on damage), so the same place always shows the same atoms for the same dose.
public struct Sample: Sendable {
    /// Region layout and vacancy concentrations.
    public let layout: SampleLayout
    /// Probability per e/nm² that a selenium atom is knocked out (a cross-section, nm²).
    public var knockOnCrossSection: Double
    /// Number density of the amorphous hydrocarbon, atoms per nm³.
    public var carbonDensity = 100.0
    /// Hydrocarbon that the beam cracks onto the sample: nm of thickness per electron per nm².
    public var contaminationGrowth: Double

    /// A sample with the given layout.
    public init(
        layout: SampleLayout = .standard(), knockOnCrossSection: Double = 3e-11, contaminationGrowth: Double = 0
    ) {
        self.layout = layout
        self.knockOnCrossSection = knockOnCrossSection
        self.contaminationGrowth = contaminationGrowth
    }

    /// Hydrocarbon thickness at (x, y): the layout's patches plus what the dose has grown, nm.
    func carbonThickness(_ region: RegionSample, _ x: Double, _ y: Double, dose: DoseMap) -> Double {
        region.kind == .vacuum ? 0 : region.carbonThickness + contaminationGrowth * dose.dose(atX: x, y: y)
    }

    /// The kind of area at (x, y), nm.
    public func region(atX x: Double, y: Double) -> RegionKind { layout.region(x, y).kind }

    /// Atom columns and point defects with positions in the rectangle (nm), given the dose map.
    public func contents(
        x: ClosedRange<Double>, y: ClosedRange<Double>, dose: DoseMap
    ) -> (
        columns: [AtomColumn], defects: [PointDefect]
    ) {
        let seed = layout.seed
        var columns: [AtomColumn] = []
        var defects: [PointDefect] = []
        let (iRange, jRange) = WSe2Lattice.cells(inX: x, y: y)
        for j in jRange {
            for i in iRange {
                let w = WSe2Lattice.tungstenSite(i, j)
                let se = WSe2Lattice.seleniumSite(i, j)
                let wIn = x.contains(w.x) && y.contains(w.y)
                let seIn = x.contains(se.x) && y.contains(se.y)
                guard wIn || seIn else { continue }
                let region = layout.region(w.x, w.y)
                guard region.kind != .vacuum else { continue }
                let rates = region.vacancyRich ? layout.richVacancies : layout.pristineVacancies
                let d = region.disorder
                let sigma = 0.15 * d * d
                // Damage removes atoms as well as displacing them; labels stop where order ends.
                let loss = 0.3 * d
                let labelled = d < 0.3
                if wIn {
                    let vacant = SampleHash.uniform(seed, i, j, 0) < rates.w + loss
                    if vacant {
                        if labelled { defects.append(PointDefect(x: w.x, y: w.y, kind: .w)) }
                    } else {
                        columns.append(
                            AtomColumn(
                                x: w.x + sigma * SampleHash.gaussian(seed, i, j, 10),
                                y: w.y + sigma * SampleHash.gaussian(seed, i, j, 11), kind: .w))
                    }
                }
                if seIn {
                    let u = SampleHash.uniform(seed, i, j, 1)
                    var atoms = u < rates.se2 + loss ? 0 : u < rates.se2 + rates.se1 + 2 * loss ? 1 : 2
                    // Knock-on damage: each remaining Se survives the dose received here with
                    // probability exp(-sigma * dose); the same draw for the same atom every time.
                    let survival = exp(-knockOnCrossSection * dose.dose(atX: se.x, y: se.y))
                    let survivors = (0..<atoms).filter { SampleHash.uniform(seed, i, j, 20 + $0) < survival }.count
                    atoms = survivors
                    let position = (
                        x: se.x + sigma * SampleHash.gaussian(seed, i, j, 12),
                        y: se.y + sigma * SampleHash.gaussian(seed, i, j, 13)
                    )
                    switch atoms {
                    case 2: columns.append(AtomColumn(x: position.x, y: position.y, kind: .se2))
                    case 1:
                        columns.append(AtomColumn(x: position.x, y: position.y, kind: .se1))
                        if labelled { defects.append(PointDefect(x: se.x, y: se.y, kind: .se1)) }
                    default:
                        if labelled { defects.append(PointDefect(x: se.x, y: se.y, kind: .se2)) }
                    }
                }
            }
        }
        columns += carbon(x: x, y: y, dose: dose)
        return (columns, defects)
    }

    /// Amorphous carbon atoms of the contamination in the rectangle: per 0.5 nm cell, a hashed
    /// number of atoms (density x thickness x area) at hashed positions.
    private func carbon(x: ClosedRange<Double>, y: ClosedRange<Double>, dose: DoseMap) -> [AtomColumn] {
        let cell = 0.5
        var atoms: [AtomColumn] = []
        for cy in Int(floor(y.lowerBound / cell))...Int(floor(y.upperBound / cell)) {
            for cx in Int(floor(x.lowerBound / cell))...Int(floor(x.upperBound / cell)) {
                let centre = ((Double(cx) + 0.5) * cell, (Double(cy) + 0.5) * cell)
                let thickness = carbonThickness(layout.region(centre.0, centre.1), centre.0, centre.1, dose: dose)
                guard thickness > 0 else { continue }
                let expected = carbonDensity * thickness * cell * cell
                let n = Int(expected + SampleHash.uniform(layout.seed, cx, cy, 30))
                for k in 0..<n {
                    let px = (Double(cx) + SampleHash.uniform(layout.seed, cx, cy, 100 + 2 * k)) * cell
                    let py = (Double(cy) + SampleHash.uniform(layout.seed, cx, cy, 101 + 2 * k)) * cell
                    if x.contains(px) && y.contains(py) { atoms.append(AtomColumn(x: px, y: py, kind: .carbon)) }
                }
            }
        }
        return atoms
    }

    /// Mean scattering per nm² at (x, y) for a detector with cross-section `sigma(Z)`, for survey
    /// rendering where atoms are far below a pixel.
    func scatteringDensity(
        _ region: RegionSample, _ x: Double, _ y: Double, dose: DoseMap, sigma: (Int) -> Double
    )
        -> Double
    {
        guard region.kind != .vacuum else { return 0 }
        let rates = region.vacancyRich ? layout.richVacancies : layout.pristineVacancies
        let loss = 0.3 * region.disorder
        let survival = exp(-knockOnCrossSection * dose.dose(atX: x, y: y))
        let seleniumPerCell = (2 - 2 * rates.se2 - rates.se1 - 3 * loss) * survival
        let lattice =
            ((1 - rates.w - loss) * sigma(WSe2Lattice.tungsten) + max(0, seleniumPerCell) * sigma(WSe2Lattice.selenium))
            / WSe2Lattice.cellArea
        return lattice + carbonDensity * carbonThickness(region, x, y, dose: dose) * sigma(WSe2Lattice.carbon)
    }
}
