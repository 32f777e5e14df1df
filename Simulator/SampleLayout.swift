import Foundation

/// What kind of area a point of the sample is. The raw values are the labels in ground-truth
/// region maps.
public enum RegionKind: Int, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// No sample: outside the flake, or a hole.
    case vacuum = 0
    /// Clean lattice with rare intrinsic vacancies.
    case pristine = 1
    /// Lattice with many chalcogen (and some metal) vacancies.
    case vacancyRich = 2
    /// Irradiation damage: displaced and missing atoms, amorphous toward the centre.
    case damaged = 3
    /// Lattice under amorphous hydrocarbon contamination.
    case contaminated = 4
    /// The lattice within a few nanometres of the flake's edge.
    case edge = 5

    public var description: String {
        switch self {
        case .vacuum: "vacuum"
        case .pristine: "pristine"
        case .vacancyRich: "vacancy-rich"
        case .damaged: "damaged"
        case .contaminated: "contaminated"
        case .edge: "edge"
        }
    }
}

/// Vacancy concentrations, as fractions of sites.
public struct VacancyConcentrations: Sendable, Codable, Hashable {
    /// Single chalcogen vacancies (an Se2 column with one Se): fraction of Se2 sites.
    public var se1: Double
    /// Double chalcogen vacancies (empty Se2 site).
    public var se2: Double
    /// Metal vacancies: fraction of W sites.
    public var w: Double

    /// Creates concentrations.
    public init(se1: Double, se2: Double, w: Double) {
        self.se1 = se1
        self.se2 = se2
        self.w = w
    }
}

/// A disc in stage coordinates (nm).
public struct Disc: Sendable, Codable, Hashable {
    /// Centre x, nm.
    public var x: Double
    /// Centre y, nm.
    public var y: Double
    /// Radius, nm.
    public var radius: Double

    /// Creates a disc.
    public init(x: Double, y: Double, radius: Double) {
        self.x = x
        self.y = y
        self.radius = radius
    }

    /// 1 at the centre, 0 at the rim and beyond, for a point whose boundary is perturbed by `wobble` nm.
    func depth(_ px: Double, _ py: Double, wobble: Double = 0) -> Double {
        let d = ((px - x) * (px - x) + (py - y) * (py - y)).squareRoot()
        return max(0, 1 - d / max(radius + wobble, 1e-9))
    }
}

/// The layout of the virtual sample: a WSe2 flake with holes and zones. Every field can come from a
/// scenario file; ``standard(seed:)`` is the default.
public struct SampleLayout: Sendable, Codable, Hashable {
    /// Seed of every random choice in the sample.
    public var seed: UInt64
    /// Flake centre and size, nm.
    public var flakeCenterX: Double
    /// Flake centre y, nm.
    public var flakeCenterY: Double
    /// Flake width, nm.
    public var flakeWidth: Double
    /// Flake height, nm.
    public var flakeHeight: Double
    /// How far the flake edge and zone boundaries wander, nm.
    public var roughness: Double
    /// Width of the band inside the flake edge labelled `edge`, nm.
    public var edgeWidth: Double
    /// Holes in the flake.
    public var holes: [Disc]
    /// Vacancy-rich zones.
    public var vacancyRich: [Disc]
    /// Irradiation-damaged zones; disorder grows from the rim to the centre.
    public var damaged: [Disc]
    /// Contamination patches; thickness grows from the rim to `contaminationThickness` at the centre.
    public var contamination: [Disc]
    /// Hydrocarbon thickness at a patch centre, nm.
    public var contaminationThickness: Double
    /// Vacancies outside vacancy-rich zones.
    public var pristineVacancies: VacancyConcentrations
    /// Vacancies inside vacancy-rich zones.
    public var richVacancies: VacancyConcentrations

    /// The default sample: a 2.4 um flake centred on the stage origin, with holes and every kind of
    /// zone, one of each within 300 nm of the centre so that a first survey sees them all.
    public static func standard(seed: UInt64 = 1) -> SampleLayout {
        func place(_ index: Int, near: Double, far: Double, radius: ClosedRange<Double>) -> Disc {
            let angle = 2 * Double.pi * SampleHash.uniform(seed, 900, index)
            let distance = near + (far - near) * SampleHash.uniform(seed, 901, index)
            let r = radius.lowerBound + (radius.upperBound - radius.lowerBound) * SampleHash.uniform(seed, 902, index)
            return Disc(x: distance * cos(angle), y: distance * sin(angle), radius: r)
        }
        return SampleLayout(
            seed: seed, flakeCenterX: 0, flakeCenterY: 0, flakeWidth: 2400, flakeHeight: 2400, roughness: 15,
            edgeWidth: 3,
            holes: [place(1, near: 150, far: 250, radius: 30...50)]
                + (2...4).map { place($0, near: 500, far: 1000, radius: 40...120) },
            vacancyRich: [Disc(x: -120, y: 60, radius: 90)]
                + (5...7).map { place($0, near: 400, far: 1000, radius: 150...300) },
            damaged: [Disc(x: 110, y: -90, radius: 70)]
                + (8...9).map { place($0, near: 400, far: 1000, radius: 100...200) },
            contamination: [Disc(x: 60, y: 170, radius: 80)]
                + (10...13).map { place($0, near: 300, far: 1100, radius: 80...250) },
            contaminationThickness: 2,
            pristineVacancies: VacancyConcentrations(se1: 0.002, se2: 0.0002, w: 0.0001),
            richVacancies: VacancyConcentrations(se1: 0.03, se2: 0.003, w: 0.001))
    }

    /// What is at (x, y), nm.
    func region(_ x: Double, _ y: Double) -> RegionSample {
        let wobble = roughness * smoothNoise(x, y, scale: 60)
        // Inside the flake: distance to the nearest edge of the rectangle, perturbed.
        let inside =
            min(
                flakeWidth / 2 - abs(x - flakeCenterX), flakeHeight / 2 - abs(y - flakeCenterY)) + wobble
        guard inside > 0 else { return RegionSample(kind: .vacuum) }
        for hole in holes where hole.depth(x, y, wobble: wobble) > 0 { return RegionSample(kind: .vacuum) }
        var sample = RegionSample(kind: inside < edgeWidth ? .edge : .pristine)
        for zone in vacancyRich where zone.depth(x, y, wobble: wobble) > 0 {
            sample.vacancyRich = true
            if sample.kind == .pristine { sample.kind = .vacancyRich }
        }
        for zone in damaged {
            let depth = zone.depth(x, y, wobble: wobble)
            if depth > 0 {
                sample.disorder = max(sample.disorder, min(1, 1.3 * depth))
                if sample.kind != .edge { sample.kind = .damaged }
            }
        }
        for patch in contamination {
            let depth = patch.depth(x, y, wobble: wobble)
            if depth > 0 {
                sample.carbonThickness += contaminationThickness * min(1, 2 * depth)
                if sample.kind != .edge { sample.kind = .contaminated }
            }
        }
        return sample
    }

    /// Smooth value noise in [-1, 1] with features of about `scale` nm.
    func smoothNoise(_ x: Double, _ y: Double, scale: Double) -> Double {
        let gx = x / scale
        let gy = y / scale
        let ix = Int(floor(gx))
        let iy = Int(floor(gy))
        let fx = gx - Double(ix)
        let fy = gy - Double(iy)
        func corner(_ dx: Int, _ dy: Int) -> Double { 2 * SampleHash.uniform(seed, 700 + ix + dx, iy + dy) - 1 }
        let sx = fx * fx * (3 - 2 * fx)
        let sy = fy * fy * (3 - 2 * fy)
        let top = corner(0, 0) * (1 - sx) + corner(1, 0) * sx
        let bottom = corner(0, 1) * (1 - sx) + corner(1, 1) * sx
        return top * (1 - sy) + bottom * sy
    }
}

/// The state of the sample at one point.
struct RegionSample {
    var kind: RegionKind
    /// 0 (crystalline) to 1 (amorphous).
    var disorder = 0.0
    /// Hydrocarbon thickness, nm.
    var carbonThickness = 0.0
    /// Inside a vacancy-rich zone (also when another kind takes the label).
    var vacancyRich = false
}
