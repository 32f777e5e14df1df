import Foundation

/// Where and how a frame is (or is to be) scanned.
///
/// Positions are in stage coordinates, in nanometres. The pixel size is `fovX / width` by
/// `fovY / height`.
public struct ScanGeometry: Sendable, Hashable, Codable, Validatable {
    /// Centre of the scanned area, x, nm.
    public var centerX: Double
    /// Centre of the scanned area, y, nm.
    public var centerY: Double
    /// Width of the field of view, nm.
    public var fovX: Double
    /// Height of the field of view, nm.
    public var fovY: Double
    /// Pixels per row.
    public var width: Int
    /// Rows.
    public var height: Int
    /// Dwell time per pixel, microseconds.
    public var dwell: Double
    /// Scan rotation, degrees, counter-clockwise.
    public var rotation: Double

    /// The largest frame side the protocol accepts.
    public static let maxPixels = 16_384

    /// Creates a geometry; `fovY` defaults to a square pixel.
    public init(
        centerX: Double, centerY: Double, fovX: Double, fovY: Double? = nil, width: Int, height: Int,
        dwell: Double, rotation: Double = 0
    ) {
        self.centerX = centerX
        self.centerY = centerY
        self.fovX = fovX
        self.fovY = fovY ?? fovX * Double(height) / Double(max(width, 1))
        self.width = width
        self.height = height
        self.dwell = dwell
        self.rotation = rotation
    }

    /// Nanometres per pixel along x.
    public var pixelSizeX: Double { fovX / Double(width) }

    /// Nanometres per pixel along y.
    public var pixelSizeY: Double { fovY / Double(height) }

    /// Where the centre of pixel (`column`, `row`) lies on the stage, nm (docs/PROTOCOL.md, 2):
    /// columns run along +x and rows along +y of the stage, turned by `rotation` counter-clockwise,
    /// so row 0 is the scan's edge at the smallest y.
    public func stagePosition(column: Double, row: Double) -> (x: Double, y: Double) {
        let u = (column - Double(width - 1) / 2) * pixelSizeX
        let v = (row - Double(height - 1) / 2) * pixelSizeY
        let r = rotation * .pi / 180
        let (c, s) = (cos(r), sin(r))
        return (centerX + c * u - s * v, centerY + s * u + c * v)
    }

    enum CodingKeys: String, CodingKey {
        case centerX = "center_x_nm", centerY = "center_y_nm", fovX = "fov_x_nm", fovY = "fov_y_nm"
        case width, height, dwell = "dwell_us", rotation = "rotation_deg"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        centerX = try c.decode(Double.self, forKey: .centerX)
        centerY = try c.decode(Double.self, forKey: .centerY)
        fovX = try c.decode(Double.self, forKey: .fovX)
        fovY = try c.decode(Double.self, forKey: .fovY)
        width = try c.decodeWhole(Int.self, forKey: .width)
        height = try c.decodeWhole(Int.self, forKey: .height)
        dwell = try c.decode(Double.self, forKey: .dwell)
        rotation = try c.decode(Double.self, forKey: .rotation)
    }

    func validate(_ check: FieldChecker, at path: String) throws(ProtocolError) {
        try check.finite(centerX, path.dot("center_x_nm"))
        try check.finite(centerY, path.dot("center_y_nm"))
        try check.positive(fovX, path.dot("fov_x_nm"))
        try check.positive(fovY, path.dot("fov_y_nm"))
        try check.within(width, 1...Self.maxPixels, path.dot("width"))
        try check.within(height, 1...Self.maxPixels, path.dot("height"))
        try check.positive(dwell, path.dot("dwell_us"))
        try check.finite(rotation, path.dot("rotation_deg"))
    }
}
