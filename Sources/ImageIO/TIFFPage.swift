import ImageNumerics

/// One TIFF page decoded into a grayscale image: its strips or tiles decompressed, predictors
/// undone, samples converted to Float.
struct TIFFPage {
    let directory: TIFFDirectory
    let reader: TIFFBytes

    init(_ directory: TIFFDirectory, _ reader: TIFFBytes) {
        self.directory = directory
        self.reader = reader
    }

    /// Compression schemes by code, for messages about the ones not read.
    private static let compressionNames = [
        2: "CCITT RLE", 3: "CCITT fax 3", 4: "CCITT fax 4", 6: "old-style JPEG", 7: "JPEG", 34712: "JPEG 2000",
        33003: "JPEG 2000", 33005: "JPEG 2000", 34887: "LERC", 34925: "LZMA", 50000: "Zstandard", 50001: "WebP",
        32947: "DCS", 34661: "JBIG", 34676: "SGI LogLuv", 34677: "SGI LogL",
    ]

    /// The page's layout, checked.
    private struct Layout {
        let width: Int
        let height: Int
        let type: SampleType
        let samples: Int
        let planar: Bool
        let compression: Int
        let predictor: Int
        let whiteIsZero: Bool
        let rgb: Bool
        let chunkWidth: Int
        let chunkHeight: Int
        let tiled: Bool
        let offsets: [Int]
        let counts: [Int]
    }

    private func layout() throws(ImageFileError) -> Layout {
        let d = directory
        guard let width = d.integer(256), let height = d.integer(257), width > 0, height > 0 else {
            throw reader.fail("no image size (tags 256, 257)")
        }
        guard width <= 65536, height <= 65536, width * height <= 1 << 28 else {
            throw reader.fail("\(width) x \(height) pixels is larger than any image ScopePilot takes")
        }
        let samples = d.integer(277) ?? 1
        let bits = d.integers(258) ?? [1]
        let format = d.integers(339)?.first ?? 1
        let photometric = d.integer(262) ?? 1
        guard (1...16).contains(samples) else { throw reader.fail("\(samples) samples per pixel") }
        guard Set(bits).count == 1, let bitsPerSample = bits.first else {
            throw reader.fail("samples of different sizes (\(bits.map(String.init).joined(separator: ", ")) bits)")
        }
        let kind: SampleType.Kind? = [1: .unsigned, 2: .signed, 3: .float][format]
        guard let kind, bitsPerSample % 8 == 0,
            let type = SampleType(kind, size: bitsPerSample / 8, bigEndian: !reader.little)
        else {
            let formatName = [1: "unsigned", 2: "signed", 3: "float"][format] ?? "sample format \(format)"
            throw reader.fail(
                "\(bitsPerSample)-bit \(formatName) pixels are not read; use 8, 16, 32 or 64-bit integers or 16, 32 or 64-bit floats"
            )
        }
        switch photometric {
        case 0, 1: break
        case 2: guard samples >= 3 else { throw reader.fail("an RGB page with \(samples) samples") }
        case 3:
            throw reader.fail(
                "a palette (colour-mapped) image; ScopePilot reads grayscale: save the intensities themselves")
        default:
            throw reader.fail(
                "photometric interpretation \(photometric) (colour: CMYK, YCbCr, Lab, ...); ScopePilot reads grayscale")
        }
        let compression = d.integer(259) ?? 1
        guard [1, 5, 8, 32946, 32773].contains(compression) else {
            let name = Self.compressionNames[compression].map { "\($0) (\(compression))" } ?? "scheme \(compression)"
            throw reader.fail(
                "compressed with \(name), which ScopePilot does not read; save it uncompressed or with deflate, LZW "
                    + "or PackBits (tifffile: compression='zlib')")
        }
        let predictor = d.integer(317) ?? 1
        guard [1, 2, 3].contains(predictor) else { throw reader.fail("predictor \(predictor) is not a TIFF predictor") }
        if predictor == 3 && kind != .float { throw reader.fail("the floating-point predictor on integer samples") }
        let tiled = d.tags[322] != nil
        let chunkWidth: Int
        let chunkHeight: Int
        let offsets: [Int]?
        let counts: [Int]?
        if tiled {
            guard let tw = d.integer(322), let th = d.integer(323), tw > 0, th > 0, tw <= 65536, th <= 65536 else {
                throw reader.fail("tiles without a size (tags 322, 323)")
            }
            (chunkWidth, chunkHeight, offsets, counts) = (tw, th, d.integers(324), d.integers(325))
        } else {
            let rows = d.integer(278) ?? height
            (chunkWidth, chunkHeight, offsets, counts) = (
                width, min(max(rows, 1), height), d.integers(273), d.integers(279)
            )
        }
        let planar = (d.integer(284) ?? 1) == 2 && samples > 1
        let across = (width + chunkWidth - 1) / chunkWidth
        let down = (height + chunkHeight - 1) / chunkHeight
        let needed = across * down * (planar ? samples : 1)
        guard let offsets, offsets.count >= needed else {
            throw reader.fail(
                "\(needed) \(tiled ? "tiles" : "strips") needed but \(offsets?.count ?? 0) listed (tags 273/324)")
        }
        // A missing byte-count tag is allowed for a single uncompressed chunk.
        let byteCounts =
            counts
            ?? (compression == 1 && needed == 1 ? [reader.bytes.count - (offsets.first ?? 0)] : [])
        guard byteCounts.count >= needed else {
            throw reader.fail("no byte counts for the \(tiled ? "tiles" : "strips")")
        }
        return Layout(
            width: width, height: height, type: type, samples: samples, planar: planar, compression: compression,
            predictor: predictor, whiteIsZero: photometric == 0, rgb: photometric == 2, chunkWidth: chunkWidth,
            chunkHeight: chunkHeight, tiled: tiled, offsets: offsets, counts: byteCounts)
    }

    /// The page as an image.
    func decode() throws(ImageFileError) -> Image {
        let layout = try layout()
        let (width, height, samples) = (layout.width, layout.height, layout.samples)
        let chunkSamples = layout.planar ? 1 : samples
        let rowBytes = layout.chunkWidth * chunkSamples * layout.type.size
        let across = (width + layout.chunkWidth - 1) / layout.chunkWidth
        let down = (height + layout.chunkHeight - 1) / layout.chunkHeight
        // The gray value from sample 0; colour pages must have equal R, G and B.
        var pixels = [Float](repeating: 0, count: width * height)
        var channels: [[Float]] = layout.rgb && layout.planar ? [[], [], []] : []
        for plane in 0..<(layout.planar ? (layout.rgb ? 3 : 1) : 1) {
            var planePixels = [Float](repeating: 0, count: layout.rgb && layout.planar ? width * height : 0)
            for chunkRow in 0..<down {
                for chunkColumn in 0..<across {
                    let index = plane * across * down + chunkRow * across + chunkColumn
                    let x0 = chunkColumn * layout.chunkWidth
                    let y0 = chunkRow * layout.chunkHeight
                    let rows = min(layout.chunkHeight, height - y0)
                    // Strips hold only the image's rows; tiles always hold whole tiles.
                    let storedRows = layout.tiled ? layout.chunkHeight : rows
                    var (data, type) = try chunk(index, layout, expected: rowBytes * storedRows)
                    guard data.count >= rowBytes * rows else {
                        throw reader.fail(
                            "\(layout.tiled ? "tile" : "strip") \(index + 1) holds \(data.count) bytes, not the \(rowBytes * rows) its pixels need"
                        )
                    }
                    if layout.predictor == 2 {
                        Self.undoHorizontalDifferencing(
                            &data, rows: rows, rowBytes: rowBytes, samples: chunkSamples, type: type)
                    } else if layout.predictor == 3 {
                        Self.undoFloatingPointPredictor(
                            &data, rows: rows, rowBytes: rowBytes, samples: chunkSamples, size: type.size)
                        type = type.withBigEndian(true)
                    }
                    let columns = min(layout.chunkWidth, width - x0)
                    // The first pixel whose red, green and blue differ, if any.
                    let colourAt: (Int, Int)? = data.withUnsafeBytes { raw in
                        for row in 0..<rows {
                            let rowStart = row * layout.chunkWidth * chunkSamples
                            let target = (y0 + row) * width + x0
                            for column in 0..<columns {
                                let at = rowStart + column * chunkSamples
                                let value = type.value(in: raw, at: at)
                                if layout.rgb && !layout.planar {
                                    guard type.value(in: raw, at: at + 1) == value,
                                        type.value(in: raw, at: at + 2) == value
                                    else { return (x0 + column, y0 + row) }
                                }
                                if layout.rgb && layout.planar {
                                    planePixels[target + column] = value
                                } else {
                                    pixels[target + column] = value
                                }
                            }
                        }
                        return nil
                    }
                    if let (column, row) = colourAt { throw colourRefusal(column: column, row: row) }
                }
            }
            if layout.rgb && layout.planar { channels[plane] = planePixels }
        }
        if layout.rgb && layout.planar {
            for i in 0..<pixels.count {
                guard channels[1][i] == channels[0][i], channels[2][i] == channels[0][i] else {
                    throw colourRefusal(column: i % width, row: i / width)
                }
            }
            pixels = channels[0]
        }
        if layout.whiteIsZero {
            // 0 is white: turn it round so that higher is brighter, as everywhere else.
            let top: Float =
                switch layout.type.kind {
                case .unsigned: Float(UInt64.max >> UInt64(64 - layout.type.size * 8))
                case .signed, .float: 0
                }
            for i in pixels.indices { pixels[i] = top - pixels[i] }
        }
        return Image(width: width, height: height, pixels: pixels)
    }

    /// `planes` uncompressed planes of this page's size stored one after another from its first
    /// strip (ImageJ's layout for stacks it writes as one directory).
    func contiguousPlanes(_ planes: Int) throws(ImageFileError) -> [Image] {
        let layout = try layout()
        guard layout.compression == 1, !layout.tiled, layout.samples == 1, let start = layout.offsets.first else {
            throw reader.fail("ImageJ metadata lists \(planes) images but only one page is stored")
        }
        let planeBytes = layout.width * layout.height * layout.type.size
        guard planes <= 1 << 20, start >= 0, start <= reader.bytes.count,
            planes * planeBytes <= reader.bytes.count - start
        else {
            throw reader.fail("ImageJ metadata lists \(planes) images but the file holds fewer")
        }
        return (0..<planes).map { plane in
            let from = start + plane * planeBytes
            let values = layout.type.values(
                reader.bytes[from..<(from + planeBytes)], count: layout.width * layout.height)
            return Image(width: layout.width, height: layout.height, pixels: values)
        }
    }

    private func colourRefusal(column: Int, row: Int) -> ImageFileError {
        reader.fail(
            "a colour image (red, green and blue differ at x \(column), y \(row)); ScopePilot reads grayscale: "
                + "save the detector's intensities, not a colour rendering")
    }

    /// Chunk `index`, decompressed, and the sample type its bytes are in.
    private func chunk(_ index: Int, _ layout: Layout, expected: Int) throws(ImageFileError) -> ([UInt8], SampleType) {
        let offset = layout.offsets[index]
        let count = layout.counts[index]
        guard offset >= 0, count >= 0, offset <= reader.bytes.count, count <= reader.bytes.count - offset else {
            throw reader.fail("\(layout.tiled ? "tile" : "strip") \(index + 1) lies beyond the end of the file")
        }
        let stored = reader.bytes[offset..<(offset + count)]
        do {
            switch layout.compression {
            case 1: return (Array(stored.prefix(expected)), layout.type)
            case 5: return (try Decompression.lzw(stored, expected: expected), layout.type)
            case 32773: return (try Decompression.packBits(stored, expected: expected), layout.type)
            default: return (try Decompression.inflate(stored, expected: expected), layout.type)
            }
        } catch {
            throw reader.fail("\(layout.tiled ? "tile" : "strip") \(index + 1): \(error.problem)")
        }
    }

    /// Predictor 2: each sample was stored as its difference from the one to its left.
    static func undoHorizontalDifferencing(
        _ data: inout [UInt8], rows: Int, rowBytes: Int, samples: Int, type: SampleType
    ) {
        let size = type.size
        let perRow = rowBytes / size
        func load(_ at: Int) -> UInt64 {
            var value: UInt64 = 0
            for k in 0..<size { value = value << 8 | UInt64(data[at + (type.bigEndian ? k : size - 1 - k)]) }
            return value
        }
        func store(_ value: UInt64, _ at: Int) {
            for k in 0..<size {
                data[at + (type.bigEndian ? size - 1 - k : k)] = UInt8(truncatingIfNeeded: value >> UInt64(8 * k))
            }
        }
        for row in 0..<rows {
            let start = row * rowBytes
            if size == 1 {
                for i in samples..<perRow { data[start + i] = data[start + i] &+ data[start + i - samples] }
                continue
            }
            for i in samples..<perRow {
                store(load(start + i * size) &+ load(start + (i - samples) * size), start + i * size)
            }
        }
    }

    /// Predictor 3: each row's bytes were split into planes (most significant first) and each
    /// byte stored as its difference from the one before. Leaves each value's bytes most
    /// significant first.
    static func undoFloatingPointPredictor(_ data: inout [UInt8], rows: Int, rowBytes: Int, samples: Int, size: Int) {
        let count = rowBytes / size
        var row = [UInt8](repeating: 0, count: rowBytes)
        for r in 0..<rows {
            let start = r * rowBytes
            for i in samples..<rowBytes { data[start + i] = data[start + i] &+ data[start + i - samples] }
            for value in 0..<count {
                for byte in 0..<size { row[value * size + byte] = data[start + byte * count + value] }
            }
            data.replaceSubrange(start..<(start + rowBytes), with: row)
        }
    }
}
