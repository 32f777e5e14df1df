public import Foundation
public import ImageNumerics

/// TIFF and BigTIFF. Read: grayscale pages of every integer and float sample type in either byte
/// order, uncompressed or deflate, LZW or PackBits, in strips or tiles, one page or a series, with
/// the pixel size from OME-XML, ImageJ metadata or the resolution tags. Written: one uncompressed
/// little-endian page of 16-bit or float32 pixels.
public enum TIFFFile {
    /// Element types that can be written.
    public enum StoredType: Sendable {
        /// 16-bit unsigned, values rounded and clamped.
        case uint16
        /// 32-bit IEEE float.
        case float32
    }

    /// Reads a TIFF file's one frame; a file of several pages is refused (read it with ``contents(of:)``).
    public static func read(_ url: URL) throws(ImageFileError) -> Image {
        try ImageFile.single(contents(of: url), path: url.path)
    }

    /// Reads every page of a TIFF file, and the pixel size its metadata states.
    public static func contents(of url: URL) throws(ImageFileError) -> ImageFileContents {
        try decodeContents(ImageFile.bytes(of: url), path: url.path)
    }

    /// Decodes a TIFF file's one frame from its bytes.
    public static func decode(_ bytes: [UInt8], path: String = "<data>") throws(ImageFileError) -> Image {
        try ImageFile.single(decodeContents(bytes, path: path), path: path)
    }

    /// Decodes every page of a TIFF or BigTIFF, grayscale, of any integer or float sample type,
    /// uncompressed or compressed with deflate, LZW or PackBits (with or without a predictor), in
    /// strips or tiles. Reduced-resolution pages (thumbnails, pyramids) are skipped; the other pages
    /// are a series and must share one size. The calibration is taken from OME-XML, ImageJ's
    /// metadata, or the resolution tags in cm or inches, in that order.
    public static func decodeContents(
        _ bytes: [UInt8], path: String = "<data>"
    ) throws(ImageFileError)
        -> ImageFileContents
    {
        let (reader, directories) = try TIFFDirectory.read(bytes, path: path)
        // NewSubfileType bit 0: a reduced-resolution version of another page.
        let pages = directories.filter { ($0.integer(254) ?? 0) & 1 == 0 }
        guard let first = pages.first else { throw reader.fail("every page is a reduced-resolution copy") }
        var frames: [Image] = []
        for (index, page) in pages.enumerated() {
            let image: Image
            do { image = try TIFFPage(page, reader).decode() } catch {
                throw pages.count > 1 ? reader.fail("page \(index + 1): \(error.problem)") : error
            }
            if let size = frames.first, size.width != image.width || size.height != image.height {
                throw reader.fail(
                    "page \(index + 1) is \(image.width) x \(image.height) but page 1 is \(size.width) x \(size.height): "
                        + "a series must be of one size; save each image to its own file")
            }
            frames.append(image)
        }
        // ImageJ writes a large stack as one directory and its planes one after another.
        if frames.count == 1, let planes = TIFFCalibration.imageJPlanes(first.text(270)), planes > 1 {
            frames = try TIFFPage(first, reader).contiguousPlanes(planes)
        }
        return ImageFileContents(frames: frames, calibration: TIFFCalibration.calibration(first))
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
