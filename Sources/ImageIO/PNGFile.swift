public import Foundation
public import ImageNumerics

/// PNG. Written: 8-bit gray or RGB, for overlays and label maps a person looks at. Read: every
/// grayscale kind (1 to 16 bits, with or without alpha, gray palettes, RGB whose channels are
/// equal), not interlaced; PNG carries no pixel size a microscope could use (its pHYs chunk stops
/// at about 2 Å per pixel), so none is read.
public enum PNGFile {
    /// Writes 8-bit pixels: `channels` 1 (gray) or 3 (RGB), row-major, interleaved.
    public static func write(
        width: Int, height: Int, channels: Int, pixels: [UInt8], to url: URL
    ) throws(ImageFileError) {
        let png = encode(width: width, height: height, channels: channels, pixels: pixels)
        do { try Data(png).write(to: url) } catch {
            throw ImageFileError(.unwritable, path: url.path, problem: "cannot write: \(error.localizedDescription)")
        }
    }

    /// The PNG file's bytes for 8-bit pixels: `channels` 1 (gray) or 3 (RGB), row-major, interleaved.
    public static func encode(width: Int, height: Int, channels: Int, pixels: [UInt8]) -> [UInt8] {
        precondition(channels == 1 || channels == 3, "PNG here is gray or RGB")
        precondition(pixels.count == width * height * channels, "pixels must fill the image")
        var raw: [UInt8] = []
        raw.reserveCapacity((width * channels + 1) * height)
        for row in 0..<height {
            raw.append(0)  // filter: none
            raw += pixels[(row * width * channels)..<((row + 1) * width * channels)]
        }
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        func big32(_ v: UInt32) -> [UInt8] {
            [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
        }
        func chunk(_ type: String, _ body: [UInt8]) {
            let typed = Array(type.utf8) + body
            png += big32(UInt32(body.count)) + typed + big32(crc32(typed))
        }
        chunk("IHDR", big32(UInt32(width)) + big32(UInt32(height)) + [8, channels == 1 ? 0 : 2, 0, 0, 0])
        chunk("IDAT", Decompression.deflate(raw))
        chunk("IEND", [])
        return png
    }

    /// Writes `image` as gray, stretched so that the 0.5th and 99.5th percentiles map to black and white.
    public static func writeStretched(_ image: Image, to url: URL) throws(ImageFileError) {
        try write(width: image.width, height: image.height, channels: 1, pixels: stretch(image), to: url)
    }

    /// 8-bit values of `image`, percentile-stretched.
    public static func stretch(_ image: Image) -> [UInt8] {
        let sorted = image.pixels.filter(\.isFinite).sorted()
        guard !sorted.isEmpty else { return [UInt8](repeating: 0, count: image.pixels.count) }
        let low = sorted[Int(Double(sorted.count - 1) * 0.005)]
        let high = sorted[Int(Double(sorted.count - 1) * 0.995)]
        let scale = high > low ? 255 / (high - low) : 0
        return image.pixels.map { UInt8(clamping: Int((($0.isFinite ? $0 : low) - low) * scale)) }
    }

    static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in bytes { c = crcTable[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}
