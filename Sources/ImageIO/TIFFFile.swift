public import Foundation
public import ImageNumerics

/// Baseline TIFF, one grayscale image: read uncompressed 8-bit, 16-bit or float32 (either byte
/// order, in strips); written as uncompressed little-endian 16-bit or float32.
public enum TIFFFile {
    /// Element types that can be written.
    public enum StoredType: Sendable {
        /// 16-bit unsigned, values rounded and clamped.
        case uint16
        /// 32-bit IEEE float.
        case float32
    }

    /// Reads the first image of a TIFF file.
    public static func read(_ url: URL) throws(ImageFileError) -> Image {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ImageFileError(
                .unreadable, path: url.path, problem: "cannot read the file: \(error.localizedDescription)")
        }
        return try decode([UInt8](data), path: url.path)
    }

    /// Decodes TIFF bytes.
    public static func decode(_ bytes: [UInt8], path: String = "<data>") throws(ImageFileError) -> Image {
        func fail(_ problem: String) -> ImageFileError { ImageFileError(path: path, problem: problem) }
        guard bytes.count >= 8 else { throw fail("not a TIFF file (too short)") }
        let little: Bool
        switch (bytes[0], bytes[1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: throw fail("not a TIFF file (no II or MM byte-order mark)")
        }
        func u16(_ at: Int) throws(ImageFileError) -> Int {
            guard at >= 0, at + 2 <= bytes.count else { throw fail("truncated at byte \(at)") }
            return little ? Int(bytes[at]) | Int(bytes[at + 1]) << 8 : Int(bytes[at]) << 8 | Int(bytes[at + 1])
        }
        func u32(_ at: Int) throws(ImageFileError) -> Int {
            guard at >= 0, at + 4 <= bytes.count else { throw fail("truncated at byte \(at)") }
            let b = (0..<4).map { Int(bytes[at + $0]) }
            return little ? b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24 : b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]
        }
        guard try u16(2) == 42 else { throw fail("not a classic TIFF (BigTIFF is not supported)") }
        let directory = try u32(4)
        let count = try u16(directory)
        var tags: [Int: [Int]] = [:]
        for index in 0..<count {
            let entry = directory + 2 + 12 * index
            let tag = try u16(entry)
            let type = try u16(entry + 2)
            let n = try u32(entry + 4)
            let size = [1: 1, 3: 2, 4: 4][type]
            guard let size else { continue }
            let inline = n * size <= 4
            let base = inline ? entry + 8 : try u32(entry + 8)
            var values: [Int] = []
            for k in 0..<min(n, 1 << 20) {
                switch size {
                case 1: values.append(Int(bytes[min(base + k, bytes.count - 1)]))
                case 2: values.append(try u16(base + 2 * k))
                default: values.append(try u32(base + 4 * k))
                }
            }
            tags[tag] = values
        }
        guard let width = tags[256]?.first, let height = tags[257]?.first, width > 0, height > 0 else {
            throw fail("no image size (tags 256, 257)")
        }
        let bits = tags[258]?.first ?? 1
        let compression = tags[259]?.first ?? 1
        let samples = tags[277]?.first ?? 1
        let format = tags[339]?.first ?? 1
        guard compression == 1 else {
            throw fail("compressed TIFF (compression \(compression)) is not supported; save it uncompressed")
        }
        guard samples == 1 else { throw fail("\(samples) samples per pixel; an image for ScopePilot is grayscale") }
        let kind: String
        switch (bits, format) {
        case (8, 1): kind = "u8"
        case (16, 1): kind = "u16"
        case (32, 3): kind = "f32"
        default:
            throw fail(
                "\(bits)-bit \(format == 3 ? "float" : format == 2 ? "signed" : "unsigned") pixels are not supported; use 8- or 16-bit unsigned, or 32-bit float"
            )
        }
        guard let offsets = tags[273], let counts = tags[279], offsets.count == counts.count else {
            throw fail("no strip offsets (tags 273, 279)")
        }
        var raw: [UInt8] = []
        raw.reserveCapacity(width * height * bits / 8)
        for (offset, length) in zip(offsets, counts) {
            guard offset >= 0, length >= 0, offset + length <= bytes.count else {
                throw fail("a strip lies beyond the end of the file")
            }
            raw += bytes[offset..<(offset + length)]
        }
        let size = bits / 8
        guard raw.count >= width * height * size else {
            throw fail("expected \(width * height * size) bytes of pixels, found \(raw.count)")
        }
        var pixels = [Float](repeating: 0, count: width * height)
        for i in 0..<(width * height) {
            let at = i * size
            switch kind {
            case "u8": pixels[i] = Float(raw[at])
            case "u16":
                pixels[i] = Float(little ? Int(raw[at]) | Int(raw[at + 1]) << 8 : Int(raw[at]) << 8 | Int(raw[at + 1]))
            default:
                let b = (0..<4).map { UInt32(raw[at + $0]) }
                let bitsValue =
                    little ? b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24 : b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]
                pixels[i] = Float(bitPattern: bitsValue)
            }
        }
        return Image(width: width, height: height, pixels: pixels)
    }

    /// Writes `image` as an uncompressed little-endian grayscale TIFF.
    public static func write(_ image: Image, as type: StoredType, to url: URL) throws(ImageFileError) {
        let bits = type == .uint16 ? 16 : 32
        let dataBytes = image.width * image.height * bits / 8
        var out: [UInt8] = Array("II".utf8) + [42, 0]
        func append16(_ v: Int) { out += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
        func append32(_ v: Int) {
            out += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24 & 0xFF)]
        }
        let entries: [(tag: Int, type: Int, value: Int)] = [
            (256, 4, image.width), (257, 4, image.height), (258, 3, bits), (259, 3, 1), (262, 3, 1),
            (273, 4, 0), (277, 3, 1), (278, 4, image.height), (279, 4, dataBytes), (339, 3, type == .uint16 ? 1 : 3),
        ]
        let directory = 8
        let dataStart = directory + 2 + 12 * entries.count + 4
        append32(directory)
        append16(entries.count)
        for entry in entries {
            append16(entry.tag)
            append16(entry.type)
            append32(1)
            let value = entry.tag == 273 ? dataStart : entry.value
            if entry.type == 3 { append16(value); append16(0) } else { append32(value) }
        }
        append32(0)
        for value in image.pixels {
            switch type {
            case .uint16: append16(Int(UInt16(clamping: Int(value.rounded()))))
            case .float32: append32(Int(value.bitPattern))
            }
        }
        do { try Data(out).write(to: url) } catch {
            throw ImageFileError(.unwritable, path: url.path, problem: "cannot write: \(error.localizedDescription)")
        }
    }
}
