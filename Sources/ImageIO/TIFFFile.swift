public import Foundation
public import ImageNumerics

/// TIFF and BigTIFF. Read: grayscale pages of every integer and float sample type in either byte
/// order, uncompressed or deflate, LZW or PackBits, in strips or tiles, one page or a series, with
/// the pixel size from OME-XML, ImageJ metadata or the resolution tags. Written: one little-endian
/// page of 16-bit or float32 pixels, uncompressed or deflated after a predictor, with its pixel size.
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

    /// How a written TIFF is compressed.
    public enum Compression: Sendable, Hashable {
        /// Stored as is.
        case none
        /// Deflate (zlib, TIFF's "Adobe deflate") at `level`, 1 (fastest) to 9 (smallest), after
        /// TIFF's predictor: horizontal differencing for integers, the floating-point predictor
        /// for floats. Lossless; every TIFF reader of note reads it.
        case deflate(level: Int)
    }

    /// Writes `image` as a little-endian grayscale TIFF (uint16: values rounded and clamped).
    public static func write(
        _ image: Image, as type: StoredType, to url: URL, compression: Compression = .none, pixelSize: Double? = nil
    ) throws(ImageFileError) {
        var samples: [UInt8] = []
        samples.reserveCapacity(image.pixels.count * (type == .uint16 ? 2 : 4))
        for value in image.pixels {
            switch type {
            case .uint16:
                let v = UInt16(clamping: Int(value.rounded()))
                samples += [UInt8(v & 0xFF), UInt8(v >> 8)]
            case .float32:
                let v = value.bitPattern
                samples += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)]
            }
        }
        let bytes = encode(
            samples: samples, width: image.width, height: image.height, type: type, compression: compression,
            pixelSize: pixelSize)
        do { try Data(bytes).write(to: url) } catch {
            throw ImageFileError(.unwritable, path: url.path, problem: "cannot write: \(error.localizedDescription)")
        }
    }

    /// One grayscale page of `samples` (little-endian `type` values, row-major, `width` x
    /// `height`) as a TIFF file, in one strip. With `pixelSize` (Å) the file says it as ImageJ
    /// does (`unit=nm` and the resolution tags in pixels per nm), which ImageJ/Fiji, tifffile and
    /// ScopePilot read.
    public static func encode(
        samples: [UInt8], width: Int, height: Int, type: StoredType, compression: Compression = .none,
        pixelSize: Double? = nil
    ) -> [UInt8] {
        let size = type == .uint16 ? 2 : 4
        precondition(samples.count == width * height * size, "\(samples.count) bytes for \(width) x \(height) samples")
        let data: [UInt8]
        var predictor = 1
        switch compression {
        case .none: data = samples
        case .deflate(let level):
            var predicted = samples
            predictor = type == .uint16 ? 2 : 3
            if type == .uint16 {
                applyHorizontalDifferencing16(&predicted, width: width, height: height)
            } else {
                applyFloatingPointPredictor(&predicted, width: width, height: height, size: size)
            }
            data = Decompression.deflate(predicted, level: Int32(min(max(level, 1), 9)))
        }
        var description: [UInt8] = []
        var resolution: (UInt32, UInt32)?
        if let pixelSize, pixelSize > 0, pixelSize.isFinite {
            // Pixels per nm, as a rational with a millionth's precision.
            let perNanometre = 10 / pixelSize
            let denominator: UInt32 = perNanometre < 4000 ? 1_000_000 : 1000
            resolution = (UInt32(clamping: Int((perNanometre * Double(denominator)).rounded())), denominator)
            description = Array("ImageJ=1.11a\nunit=nm\n".utf8) + [0]
        }
        // Header, then the directory's out-of-line values, then the pixels.
        var entries: [(tag: Int, type: Int, count: Int, value: Int)] = [
            (256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, size * 8), (259, 3, 1, compression == .none ? 1 : 8),
            (262, 3, 1, 1),
        ]
        if !description.isEmpty { entries.append((270, 2, description.count, -1)) }
        entries += [(273, 4, 1, -2), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, data.count)]
        if resolution != nil { entries += [(282, 5, 1, -3), (283, 5, 1, -3), (296, 3, 1, 1)] }
        if predictor != 1 { entries.append((317, 3, 1, predictor)) }
        entries.append((339, 3, 1, type == .uint16 ? 1 : 3))
        let directory = 8
        let extras = directory + 2 + 12 * entries.count + 4
        let descriptionAt = extras
        let resolutionAt = descriptionAt + description.count + description.count % 2
        let dataAt = resolutionAt + (resolution == nil ? 0 : 8)
        var out: [UInt8] = Array("II".utf8) + [42, 0]
        out.reserveCapacity(dataAt + data.count)
        func append16(_ v: Int) { out += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
        func append32(_ v: Int) {
            out += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24 & 0xFF)]
        }
        append32(directory)
        append16(entries.count)
        for entry in entries {
            append16(entry.tag)
            append16(entry.type)
            append32(entry.count)
            switch entry.value {
            case -1: append32(descriptionAt)
            case -2: append32(dataAt)
            case -3: append32(resolutionAt)
            default:
                if entry.type == 3 {
                    append16(entry.value)
                    append16(0)
                } else {
                    append32(entry.value)
                }
            }
        }
        append32(0)
        out += description
        if description.count % 2 == 1 { out.append(0) }
        if let (numerator, denominator) = resolution {
            append32(Int(numerator))
            append32(Int(denominator))
        }
        out += data
        return out
    }

    /// Predictor 2 on little-endian 16-bit samples: each stored as its difference from the one to
    /// its left in the row.
    static func applyHorizontalDifferencing16(_ data: inout [UInt8], width: Int, height: Int) {
        for row in 0..<height {
            let start = row * width * 2
            var previous: UInt16 = 0
            for i in 0..<width {
                let at = start + 2 * i
                let value = UInt16(data[at]) | UInt16(data[at + 1]) << 8
                let difference = value &- previous
                previous = value
                data[at] = UInt8(difference & 0xFF)
                data[at + 1] = UInt8(difference >> 8)
            }
        }
    }

    /// Predictor 3 (TIFF Technical Note 3) on little-endian samples of `size` bytes: each row's
    /// bytes split into planes, most significant first, then each byte stored as its difference
    /// from the one before.
    static func applyFloatingPointPredictor(_ data: inout [UInt8], width: Int, height: Int, size: Int) {
        let rowBytes = width * size
        var planes = [UInt8](repeating: 0, count: rowBytes)
        for row in 0..<height {
            let start = row * rowBytes
            for value in 0..<width {
                for byte in 0..<size { planes[byte * width + value] = data[start + value * size + size - 1 - byte] }
            }
            var previous: UInt8 = 0
            for i in 0..<rowBytes {
                let current = planes[i]
                data[start + i] = current &- previous
                previous = current
            }
        }
    }
}
