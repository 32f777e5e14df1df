public import Foundation
public import ImageNumerics

/// NumPy `.npy` files (format 1.0-3.0). Read: 2-D arrays (or 3-D with one plane) of every real
/// numeric dtype (bool, signed and unsigned integers of 1-8 bytes, float16/32/64) in either byte
/// order, C or Fortran order. Written: float32 or uint16.
public enum NumpyFile {
    /// Element types that can be written.
    public enum StoredType: String, Sendable {
        /// `<f4`
        case float32 = "<f4"
        /// `<u2`, values rounded and clamped to 0 ... 65535.
        case uint16 = "<u2"
    }

    /// Reads a 2-D array as an image.
    public static func read(_ url: URL) throws(ImageFileError) -> Image {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ImageFileError(
                .unreadable, path: url.path, problem: "cannot read the file: \(error.localizedDescription)")
        }
        return try decode(data, path: url.path)
    }

    /// Decodes `.npy` bytes.
    public static func decode(_ data: Data, path: String = "<data>") throws(ImageFileError) -> Image {
        func fail(_ problem: String) -> ImageFileError { ImageFileError(path: path, problem: problem) }
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else {
            throw fail("not a NumPy .npy file (no \\x93NUMPY magic)")
        }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw fail("unsupported .npy format version \(major)")
        }
        guard bytes.count >= headerStart + headerLength else { throw fail("truncated header") }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        guard let descr = field(header, "descr") else { throw fail("header has no 'descr'") }
        let fortran = field(header, "fortran_order") == "True"
        guard let shapeText = field(header, "shape") else { throw fail("header has no 'shape'") }
        let dimensions = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "()"))
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let parsed = dimensions.compactMap { Int($0) }
        // A single plane saved with its axis (1, rows, columns) or (rows, columns, 1) is an image.
        var shape = parsed
        if shape.count == 3, shape[0] == 1 {
            shape.removeFirst()
        } else if shape.count == 3, shape[2] == 1 {
            shape.removeLast()
        }
        guard parsed.count == dimensions.count, shape.count == 2 else {
            throw fail(
                "the array has shape (\(dimensions.joined(separator: ", "))); an image must be 2-D (rows, columns)"
                    + (parsed.count == 3 ? ": save one plane, e.g. a[0], or each plane to its own file" : ""))
        }
        let (height, width) = (shape[0], shape[1])
        guard height > 0, width > 0 else { throw fail("the array is empty (shape \(height) x \(width))") }
        let element = try sampleType(descr, fail: fail)
        let start = headerStart + headerLength
        let count = width * height
        guard bytes.count - start == count * element.size else {
            throw fail(
                "expected \(count * element.size) bytes of data for \(height) x \(width) \(descr), found \(bytes.count - start)"
            )
        }
        var pixels = element.values(bytes[start...], count: count)
        if fortran {
            // Column-major: element i is row i % height of column i / height.
            var transposed = [Float](repeating: 0, count: count)
            for column in 0..<width {
                for row in 0..<height { transposed[row * width + column] = pixels[column * height + row] }
            }
            pixels = transposed
        }
        return Image(width: width, height: height, pixels: pixels)
    }

    /// An array element's type, from a dtype string such as `<f4`, `>i2`, `|u1` or `|b1`.
    private static func sampleType(
        _ descr: String, fail: (String) -> ImageFileError
    ) throws(ImageFileError)
        -> SampleType
    {
        var text = Substring(descr)
        var big = false
        if let order = text.first, "<>=|".contains(order) {
            big = order == ">"
            text = text.dropFirst()
        }
        guard let code = text.first, let size = Int(text.dropFirst()) else {
            throw fail("unsupported dtype '\(descr)'")
        }
        let kind: SampleType.Kind?
        switch code {
        case "f": kind = .float
        case "i": kind = .signed
        case "u": kind = .unsigned
        case "b" where size == 1: kind = .unsigned
        case "c":
            throw fail("the array is complex ('\(descr)'), which has no single intensity; save np.abs(a)**2 or a.real")
        default: kind = nil
        }
        guard let kind, let type = SampleType(kind, size: size, bigEndian: big) else {
            throw fail(
                "unsupported dtype '\(descr)'; images are arrays of numbers (bool, int8 ... uint64, float16 ... float64)"
            )
        }
        return type
    }

    /// Writes `image` as a 2-D `.npy` array of `type`.
    public static func write(_ image: Image, as type: StoredType, to url: URL) throws(ImageFileError) {
        var header =
            "{'descr': '\(type.rawValue)', 'fortran_order': False, 'shape': (\(image.height), \(image.width)), }"
        // Pad with spaces so that the data starts on a 64-byte boundary; end with a newline.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        data.append(contentsOf: Array(header.utf8))
        switch type {
        case .float32:
            for value in image.pixels {
                withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) }
            }
        case .uint16:
            for value in image.pixels {
                withUnsafeBytes(of: UInt16(clamping: Int(value.rounded())).littleEndian) { data.append(contentsOf: $0) }
            }
        }
        do { try data.write(to: url) } catch {
            throw ImageFileError(.unwritable, path: url.path, problem: "cannot write: \(error.localizedDescription)")
        }
    }

    /// The value of `key` in a Python dict literal header, e.g. `'<f4'` -> `<f4`.
    private static func field(_ header: String, _ key: String) -> String? {
        guard let keyRange = header.range(of: "'\(key)'") else { return nil }
        var rest = header[keyRange.upperBound...].drop { $0 == " " || $0 == ":" }
        if rest.first == "(" {
            guard let close = rest.firstIndex(of: ")") else { return nil }
            return String(rest[...close])
        }
        if let quote = rest.first, quote == "'" || quote == "\"" {
            rest = rest.dropFirst()
            return rest.firstIndex(of: quote).map { String(rest[..<$0]) }
        }
        return String(rest.prefix { $0 != "," && $0 != "}" }).trimmingCharacters(in: .whitespaces)
    }
}
