/// The element type of a pixel part. Pixels are always little-endian on the wire.
public enum PixelType: String, Sendable, Hashable, CaseIterable, Codable {
    /// Unsigned 16-bit integers: raw detector counts.
    case uint16
    /// IEEE 754 single precision; NaN and infinity are refused.
    case float32

    /// Bytes per pixel.
    public var size: Int {
        switch self {
        case .uint16: 2
        case .float32: 4
        }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = PixelType(rawValue: text) else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription:
                        "is '\(text)', which is not a supported dtype (expected one of: "
                        + PixelType.allCases.map(\.rawValue).joined(separator: ", ") + ")"))
        }
        self = value
    }
}
