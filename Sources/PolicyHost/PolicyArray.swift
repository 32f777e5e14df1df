import Foundation
public import PolicyKit

/// One array an observation carries beside its JSON (docs/POLICY_PROTOCOL.md section 4): a raw
/// little-endian part, row-major, described by name, dtype and shape.
public struct PolicyArray: Sendable {
    /// The protocol's name: `thumbnail`, `pixels`, `community_map` or `dose_map`.
    public let name: String
    /// `float32` or `int32`.
    public let dtype: String
    /// Rows, columns.
    public let shape: [Int]
    /// The raw part.
    public let bytes: [UInt8]
    /// The dose map's grid (origin x, y, cell, nm; peak, e/Å²), for the observation's JSON.
    private let grid: [Double]?

    private init(name: String, dtype: String, shape: [Int], bytes: [UInt8], grid: [Double]? = nil) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
        self.grid = grid
    }

    /// Fields the observation's JSON gets for this array (`dose_map`: its grid), if any.
    var observationFields: [String: Any] {
        guard let grid else { return [:] }
        return [
            "dose_map": [
                "origin_x_nm": PolicyWire.number(grid[0]), "origin_y_nm": PolicyWire.number(grid[1]),
                "cell_nm": PolicyWire.number(grid[2]), "peak_e_per_A2": PolicyWire.number(grid[3]),
            ] as [String: Any]
        ]
    }

    private static func float32(_ values: some Collection<Float>) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(values.count * 4)
        for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        return bytes
    }

    /// Float32 pixels, `height` rows of `width`.
    public static func image(_ name: String, width: Int, height: Int, pixels: [Float]) -> PolicyArray {
        #if _endian(little)
        // Already the wire's byte order: one copy.
        let bytes = pixels.withUnsafeBytes { Array($0) }
        #else
        let bytes = float32(pixels)
        #endif
        return PolicyArray(name: name, dtype: "float32", shape: [height, width], bytes: bytes)
    }

    /// The community of each chip: `rows` x `columns`, int32.
    public static func communityMap(ids: [Int], columns: Int, rows: Int) -> PolicyArray {
        var bytes = [UInt8]()
        bytes.reserveCapacity(ids.count * 4)
        for id in ids {
            let value = Int32(clamping: id)
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }
        return PolicyArray(name: "community_map", dtype: "int32", shape: [rows, columns], bytes: bytes)
    }

    /// The session's dose map, float32, with its grid in the observation's `dose_map` field.
    public static func doseMap(_ map: DoseMap) -> PolicyArray {
        PolicyArray(
            name: "dose_map", dtype: "float32", shape: [map.rows, map.columns],
            bytes: float32(map.values.lazy.map { Float($0) }), grid: [map.originX, map.originY, map.cell, map.peak])
    }

    /// The description the envelope's `arrays` list carries.
    var description: [String: Any] { ["name": name, "dtype": dtype, "shape": shape] }
}
