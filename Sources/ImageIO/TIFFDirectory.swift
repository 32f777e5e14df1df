/// The image file directories (IFDs) of a classic TIFF or a BigTIFF: for each page, its tags.
struct TIFFDirectory {
    /// One tag's values: integers (every integer type, and each rational's value rounded), reals
    /// (every numeric type, rationals as numerator / denominator) or text (ASCII).
    struct Tag {
        var integers: [Int] = []
        var reals: [Double] = []
        var text: String?
    }

    /// The tags by number.
    let tags: [Int: Tag]

    func integer(_ tag: Int) -> Int? { tags[tag]?.integers.first }
    func integers(_ tag: Int) -> [Int]? { tags[tag]?.integers }
    func real(_ tag: Int) -> Double? { tags[tag]?.reals.first }
    func text(_ tag: Int) -> String? { tags[tag]?.text }

    /// The byte order and form of the file, and every directory in it, first page first.
    static func read(
        _ bytes: [UInt8], path: String
    ) throws(ImageFileError) -> (
        reader: TIFFBytes, directories: [TIFFDirectory]
    ) {
        func fail(_ problem: String) -> ImageFileError { ImageFileError(path: path, problem: problem) }
        guard bytes.count >= 8 else { throw fail("not a TIFF file (too short)") }
        let little: Bool
        switch (bytes[0], bytes[1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: throw fail("not a TIFF file (no II or MM byte-order mark)")
        }
        var reader = TIFFBytes(bytes: bytes, little: little, big: false, path: path)
        let version = try reader.u16(2)
        var offset: Int
        switch version {
        case 42: offset = try reader.u32(4)
        case 43:
            guard try reader.u16(4) == 8 else { throw fail("a BigTIFF whose offsets are not 8 bytes") }
            reader = TIFFBytes(bytes: bytes, little: little, big: true, path: path)
            offset = try reader.u64(8)
        default: throw fail("not a TIFF file (version \(version), not 42 or BigTIFF's 43)")
        }
        var directories: [TIFFDirectory] = []
        var visited = Set<Int>()
        while offset != 0 {
            guard visited.insert(offset).inserted else { throw fail("the page directories form a loop") }
            guard directories.count < 100_000 else { throw fail("more than 100000 pages") }
            let (directory, next) = try readDirectory(at: offset, reader)
            directories.append(directory)
            offset = next
        }
        guard !directories.isEmpty else { throw fail("the file has no image directory") }
        return (reader, directories)
    }

    /// The directory at `offset` and the offset of the next (0: none).
    private static func readDirectory(at offset: Int, _ r: TIFFBytes) throws(ImageFileError) -> (TIFFDirectory, Int) {
        guard offset > 0, offset < r.bytes.count else {
            throw r.fail("a page directory lies beyond the end of the file")
        }
        let count = r.big ? try r.u64(offset) : try r.u16(offset)
        let entrySize = r.big ? 20 : 12
        let first = offset + (r.big ? 8 : 2)
        guard count < 10_000 else { throw r.fail("a page directory claims \(count) tags") }
        var tags: [Int: Tag] = [:]
        for index in 0..<count {
            let entry = first + entrySize * index
            let number = try r.u16(entry)
            let type = try r.u16(entry + 2)
            let n = r.big ? try r.u64(entry + 4) : try r.u32(entry + 4)
            let sizes = [
                1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 16: 8, 17: 8, 18: 8,
            ]
            guard let size = sizes[type], n >= 0 else { continue }  // unknown types are skipped, as the spec says
            let field = r.big ? 8 : 4
            let base =
                n <= field / size ? entry + (r.big ? 12 : 8) : (r.big ? try r.u64(entry + 12) : try r.u32(entry + 8))
            // Pixel tags can list one offset per strip; nothing legitimate needs more than this.
            let values = min(n, 1 << 22)
            guard base >= 0, base <= r.bytes.count, values * size <= r.bytes.count - base else {
                throw r.fail("tag \(number)'s values lie beyond the end of the file")
            }
            var tag = Tag()
            switch type {
            case 2:
                let text = r.bytes[base..<(base + values)].prefix { $0 != 0 }
                tag.text = String(decoding: text, as: UTF8.self)
            case 5, 10:
                for k in 0..<values {
                    var numerator = Double(try r.u32(base + 8 * k))
                    var denominator = Double(try r.u32(base + 8 * k + 4))
                    if type == 10 {
                        numerator = Double(Int32(truncatingIfNeeded: Int(numerator)))
                        denominator = Double(Int32(truncatingIfNeeded: Int(denominator)))
                    }
                    let value = denominator == 0 ? .nan : numerator / denominator
                    tag.reals.append(value)
                    tag.integers.append(value.isFinite ? Int(value.rounded()) : 0)
                }
            case 11, 12:
                for k in 0..<values {
                    let value =
                        type == 11
                        ? Double(Float(bitPattern: UInt32(try r.u32(base + 4 * k))))
                        : Double(bitPattern: UInt64(try r.u64(base + 8 * k)))
                    tag.reals.append(value)
                }
            default:
                for k in 0..<values {
                    let value: Int
                    switch (type, size) {
                    case (6, _): value = Int(Int8(bitPattern: r.bytes[base + k]))
                    case (_, 1): value = Int(r.bytes[base + k])
                    case (8, _): value = Int(Int16(truncatingIfNeeded: try r.u16(base + 2 * k)))
                    case (_, 2): value = try r.u16(base + 2 * k)
                    case (9, _): value = Int(Int32(truncatingIfNeeded: try r.u32(base + 4 * k)))
                    case (_, 4): value = try r.u32(base + 4 * k)
                    default: value = try r.u64(base + 8 * k)
                    }
                    tag.integers.append(value)
                    tag.reals.append(Double(value))
                }
            }
            tags[number] = tag
        }
        let next = r.big ? try r.u64(first + entrySize * count) : try r.u32(first + entrySize * count)
        return (TIFFDirectory(tags: tags), next)
    }
}

/// Reads a TIFF's integers in its byte order, refusing any read past the end.
struct TIFFBytes {
    let bytes: [UInt8]
    /// Intel byte order (II).
    let little: Bool
    /// BigTIFF: 8-byte offsets and counts.
    let big: Bool
    /// The file, for errors.
    let path: String

    func fail(_ problem: String) -> ImageFileError { ImageFileError(path: path, problem: problem) }

    func u16(_ at: Int) throws(ImageFileError) -> Int { try unsigned(at, 2) }
    func u32(_ at: Int) throws(ImageFileError) -> Int { try unsigned(at, 4) }
    func u64(_ at: Int) throws(ImageFileError) -> Int {
        let value = try unsigned(at, 8)
        guard value >= 0 else { throw fail("an offset beyond 2^63 at byte \(at)") }
        return value
    }

    private func unsigned(_ at: Int, _ size: Int) throws(ImageFileError) -> Int {
        guard at >= 0, at + size <= bytes.count else { throw fail("truncated at byte \(at)") }
        var value: UInt64 = 0
        for k in 0..<size {
            let byte = UInt64(bytes[at + (little ? size - 1 - k : k)])
            value = value << 8 | byte
        }
        return Int(truncatingIfNeeded: value)
    }
}
