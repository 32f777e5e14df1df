public import Foundation
public import ImageNumerics

extension PNGFile {
    /// Reads a grayscale PNG: 1, 2, 4, 8 or 16-bit gray (alpha ignored), a palette of grays, or RGB
    /// with equal channels. Colour and interlaced files are refused with the reason.
    public static func read(_ url: URL) throws(ImageFileError) -> Image {
        try decode(ImageFile.bytes(of: url), path: url.path)
    }

    /// Decodes PNG bytes.
    public static func decode(_ bytes: [UInt8], path: String = "<data>") throws(ImageFileError) -> Image {
        func fail(_ problem: String) -> ImageFileError { ImageFileError(path: path, problem: problem) }
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        guard bytes.count >= 8, Array(bytes[0..<8]) == signature else {
            throw fail("not a PNG file (no PNG signature)")
        }
        func big32(_ at: Int) -> Int {
            Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
        }
        var header: [UInt8]?
        var palette: [UInt8] = []
        var compressed: [UInt8] = []
        var position = 8
        var ended = false
        while position + 12 <= bytes.count {
            let length = big32(position)
            let type = String(decoding: bytes[(position + 4)..<(position + 8)], as: UTF8.self)
            guard length >= 0, position + 12 + length <= bytes.count else {
                throw fail("the \(type) chunk is truncated")
            }
            let body = bytes[(position + 8)..<(position + 8 + length)]
            guard crc32(Array(bytes[(position + 4)..<(position + 8 + length)])) == UInt32(big32(position + 8 + length))
            else { throw fail("the \(type) chunk is corrupt (its CRC does not match)") }
            switch type {
            case "IHDR": header = Array(body)
            case "PLTE": palette = Array(body)
            case "IDAT": compressed += body
            case "IEND": ended = true
            default: break
            }
            position += 12 + length
            if ended { break }
        }
        guard let header, header.count == 13 else { throw fail("no IHDR chunk") }
        guard ended else { throw fail("the file is truncated (no IEND chunk)") }
        let width = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
        let height = Int(header[4]) << 24 | Int(header[5]) << 16 | Int(header[6]) << 8 | Int(header[7])
        let depth = Int(header[8])
        let colour = Int(header[9])
        guard width > 0, height > 0, width <= 1 << 16, height <= 1 << 16, width * height <= 1 << 28 else {
            throw fail("\(width) x \(height) pixels is larger than any image ScopePilot takes")
        }
        guard header[12] == 0 else {
            throw fail("an interlaced (Adam7) PNG; save it without interlacing")
        }
        let channels: Int
        switch (colour, depth) {
        case (0, 1), (0, 2), (0, 4), (0, 8), (0, 16), (3, 1), (3, 2), (3, 4), (3, 8): channels = 1
        case (2, 8), (2, 16): channels = 3
        case (4, 8), (4, 16): channels = 2
        case (6, 8), (6, 16): channels = 4
        default: throw fail("colour type \(colour) at \(depth) bits is not a valid PNG")
        }
        let rowBytes = (width * channels * depth + 7) / 8
        let filterStride = max(1, channels * depth / 8)
        let raw: [UInt8]
        do { raw = try Decompression.inflate(compressed[...], expected: height * (rowBytes + 1)) } catch {
            throw fail("the image data: \(error.problem)")
        }
        guard raw.count == height * (rowBytes + 1) else {
            throw fail(
                "the image data holds \(raw.count) bytes, not the \(height * (rowBytes + 1)) of \(width) x \(height)")
        }
        let rows = try unfilter(raw, rows: height, rowBytes: rowBytes, stride: filterStride, fail: fail)
        var pixels = [Float](repeating: 0, count: width * height)
        for y in 0..<height {
            let row = y * rowBytes
            for x in 0..<width {
                func sample(_ channel: Int) -> Int {
                    let index = x * channels + channel
                    switch depth {
                    case 16: return Int(rows[row + 2 * index]) << 8 | Int(rows[row + 2 * index + 1])
                    case 8: return Int(rows[row + index])
                    default:
                        let bit = index * depth
                        let byte = Int(rows[row + bit / 8])
                        return (byte >> (8 - depth - bit % 8)) & ((1 << depth) - 1)
                    }
                }
                let value = sample(0)
                switch colour {
                case 2, 6:
                    guard sample(1) == value, sample(2) == value else {
                        throw fail(
                            "a colour image (red, green and blue differ at x \(x), y \(y)); ScopePilot reads grayscale: "
                                + "save the detector's intensities, not a colour rendering")
                    }
                    pixels[y * width + x] = Float(value)
                case 3:
                    guard 3 * value + 2 < palette.count else { throw fail("palette index \(value) beyond the palette") }
                    let (r, g, b) = (palette[3 * value], palette[3 * value + 1], palette[3 * value + 2])
                    guard r == g, g == b else {
                        throw fail(
                            "a colour palette image; ScopePilot reads grayscale: save the intensities themselves")
                    }
                    pixels[y * width + x] = Float(r)
                default: pixels[y * width + x] = Float(value)
                }
            }
        }
        return Image(width: width, height: height, pixels: pixels)
    }

    /// Undoes the per-row filters (none, sub, up, average, Paeth) in place; returns the rows without
    /// their filter bytes.
    private static func unfilter(
        _ raw: [UInt8], rows: Int, rowBytes: Int, stride: Int, fail: (String) -> ImageFileError
    ) throws(ImageFileError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: rows * rowBytes)
        for y in 0..<rows {
            let filter = raw[y * (rowBytes + 1)]
            let input = y * (rowBytes + 1) + 1
            let here = y * rowBytes
            let above = (y - 1) * rowBytes
            for i in 0..<rowBytes {
                let a = i >= stride ? Int(out[here + i - stride]) : 0
                let b = y > 0 ? Int(out[above + i]) : 0
                let c = y > 0 && i >= stride ? Int(out[above + i - stride]) : 0
                let predicted: Int
                switch filter {
                case 0: predicted = 0
                case 1: predicted = a
                case 2: predicted = b
                case 3: predicted = (a + b) / 2
                case 4:
                    let p = a + b - c
                    let (pa, pb, pc) = (abs(p - a), abs(p - b), abs(p - c))
                    predicted = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
                default: throw fail("row \(y) has filter type \(filter), which PNG does not define")
                }
                out[here + i] = raw[input + i] &+ UInt8(truncatingIfNeeded: predicted)
            }
        }
        return out
    }
}
