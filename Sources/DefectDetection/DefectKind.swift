/// The classes the detector tells apart, in output-channel order. Class 0 is background.
public enum DefectClass: Int, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// No defect.
    case background = 0
    /// Single chalcogen vacancy: an Se2 column with one Se.
    case se1 = 1
    /// Double chalcogen vacancy: an empty Se site.
    case se2 = 2
    /// Metal vacancy.
    case w = 3

    /// The name used in output files: "Se1", "Se2", "W".
    public var description: String {
        switch self {
        case .background: "background"
        case .se1: "Se1"
        case .se2: "Se2"
        case .w: "W"
        }
    }

    /// The class of a name, e.g. "Se1".
    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.description == name }) else { return nil }
        self = match
    }
}

/// A detected (or true) defect in image pixel coordinates: x = column, y = row, origin top-left.
public struct DefectLocation: Sendable, Hashable, Codable {
    /// Column.
    public var x: Double
    /// Row.
    public var y: Double
    /// Type.
    public var kind: DefectClass
    /// Confidence 0 ... 1 (1 for ground truth).
    public var confidence: Float

    /// Creates a location.
    public init(x: Double, y: Double, kind: DefectClass, confidence: Float = 1) {
        self.x = x
        self.y = y
        self.kind = kind
        self.confidence = confidence
    }
}
