/// The part of a session a chip is in. Chips of different parts are never linked in the
/// similarity graph nor voted together, so that no community mixes two of them; within each part
/// the communities are found from the descriptors.
public enum ChipPart: String, Sendable, Hashable, Codable {
    /// No lattice shows, and there is material: amorphous film, damaged areas.
    case film
    /// The sample's lattice.
    case lattice
    /// Lattice in which the detector finds clearly more defects than in the rest
    /// (``DefectRichSplit``).
    case defectRich = "defect_rich"
    /// No lattice and next to no signal: holes, vacuum (``TwoKindSplit`` on the signal).
    case vacuum
    /// Lattice whose second channel's signal is raised over the first's: carbon on the lattice
    /// (``TwoKindSplit`` on the channel ratio).
    case covered

    /// Whether the part is lattice of some kind.
    public var showsLattice: Bool { self == .lattice || self == .defectRich || self == .covered }
}
