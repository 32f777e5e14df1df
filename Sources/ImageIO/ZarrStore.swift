public import Foundation

/// A Zarr (format 2) store written as a folder: groups with attributes, and arrays chunked along
/// their first dimension, zlib-compressed, little-endian, C order, which zarr-python, xarray
/// (arrays carry `_ARRAY_DIMENSIONS`) and every Zarr reader open.
public struct ZarrStore: Sendable {
    /// The store's folder.
    public let root: URL

    /// The values of one array, row-major.
    public enum Values: Sendable {
        case uint16([UInt16])
        case float32([Float])
        case float64([Double])
        case int64([Int64])
        /// Unicode text, stored fixed-width (`<U` as NumPy has it).
        case text([String])

        var count: Int {
            switch self {
            case .uint16(let v): v.count
            case .float32(let v): v.count
            case .float64(let v): v.count
            case .int64(let v): v.count
            case .text(let v): v.count
            }
        }
    }

    /// Why the store could not be written.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Creates an empty store (a root group with `attributes`) at `url`, which must not exist.
    public init(creatingAt url: URL, attributes: [String: Any] = [:]) throws(Failure) {
        root = url
        guard !FileManager.default.fileExists(atPath: url.path) else {
            throw Failure(description: "\(url.path) exists already; give a new path for the Zarr store")
        }
        try group("", attributes: attributes)
    }

    /// Adds the group `path` (e.g. `frames/128x128`) with `attributes`.
    public func group(_ path: String, attributes: [String: Any] = [:]) throws(Failure) {
        let folder = path.isEmpty ? root : root.appendingPathComponent(path, isDirectory: true)
        try write(["zarr_format": 2], to: folder.appendingPathComponent(".zgroup"))
        try write(attributes, to: folder.appendingPathComponent(".zattrs"))
    }

    /// Adds the array `path` of `shape` holding `values`, in chunks of `chunk` along the first
    /// dimension (whole along the others); `dimensions` names each dimension for xarray.
    public func array(
        _ path: String, _ values: Values, shape: [Int], dimensions: [String], chunk: Int? = nil,
        attributes: [String: Any] = [:]
    ) throws(Failure) {
        precondition(shape.reduce(1, *) == values.count && dimensions.count == shape.count)
        let folder = root.appendingPathComponent(path, isDirectory: true)
        let rows = max(1, min(chunk ?? max(shape.first ?? 1, 1), max(shape.first ?? 1, 1)))
        let width: Int
        let dtype: String
        let fill: Any
        switch values {
        case .uint16: (width, dtype, fill) = (2, "<u2", NSNull())
        case .float32: (width, dtype, fill) = (4, "<f4", "NaN")
        case .float64: (width, dtype, fill) = (8, "<f8", "NaN")
        case .int64: (width, dtype, fill) = (8, "<i8", NSNull())
        case .text(let strings):
            let longest = max(1, strings.map(\.unicodeScalars.count).max() ?? 1)
            (width, dtype, fill) = (4 * longest, "<U\(longest)", "")
        }
        var chunks = shape
        if !chunks.isEmpty { chunks[0] = rows }
        try write(
            [
                "zarr_format": 2, "shape": shape, "chunks": chunks, "dtype": dtype,
                "compressor": ["id": "zlib", "level": 1],
                "fill_value": fill, "order": "C", "filters": NSNull(), "dimension_separator": ".",
            ], to: folder.appendingPathComponent(".zarray"))
        var attributes = attributes
        attributes["_ARRAY_DIMENSIONS"] = dimensions
        try write(attributes, to: folder.appendingPathComponent(".zattrs"))
        let perRow = shape.dropFirst().reduce(1, *)
        let total = shape.first ?? 1
        var start = 0
        var index = 0
        while start < max(total, 1) {
            let end = min(start + rows, total)
            // A chunk is always whole: the last is padded with zeros, beyond the shape.
            var bytes = [UInt8](repeating: 0, count: rows * perRow * width)
            for element in (start * perRow)..<(end * perRow) {
                let at = (element - start * perRow) * width
                switch values {
                case .uint16(let v):
                    bytes[at] = UInt8(v[element] & 0xFF)
                    bytes[at + 1] = UInt8(v[element] >> 8)
                case .float32(let v): put(v[element].bitPattern, width: 4, into: &bytes, at: at)
                case .float64(let v): put(v[element].bitPattern, width: 8, into: &bytes, at: at)
                case .int64(let v): put(UInt64(bitPattern: v[element]), width: 8, into: &bytes, at: at)
                case .text(let v):
                    for (offset, scalar) in v[element].unicodeScalars.prefix(width / 4).enumerated() {
                        put(scalar.value, width: 4, into: &bytes, at: at + 4 * offset)
                    }
                }
            }
            let name = ([String(index)] + Array(repeating: "0", count: max(0, shape.count - 1))).joined(separator: ".")
            do {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                try Data(Decompression.deflate(bytes, level: 1)).write(to: folder.appendingPathComponent(name))
            } catch {
                throw Failure(description: "cannot write \(folder.path)/\(name): \(error.localizedDescription)")
            }
            start = end
            index += 1
            if total == 0 { break }
        }
    }

    private func put<T: FixedWidthInteger>(_ value: T, width: Int, into bytes: inout [UInt8], at offset: Int) {
        for byte in 0..<width { bytes[offset + byte] = UInt8(truncatingIfNeeded: value >> (8 * byte)) }
    }

    private func write(_ object: [String: Any], to url: URL) throws(Failure) {
        do {
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted]).write(to: url)
        } catch {
            throw Failure(description: "cannot write \(url.path): \(error.localizedDescription)")
        }
    }
}
