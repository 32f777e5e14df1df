/// The tag tree of a DigitalMicrograph 3 or 4 file. Values are not decoded while parsing: each
/// keeps where its bytes are and what type they have, so the image's pixels are read once, where
/// they lie.
struct DigitalMicrographTags {
    /// A group of labelled (or unlabelled) entries, or a value.
    indirect enum Node {
        case group([Entry])
        case value(Value)

        /// The entry labelled `label` of a group.
        subscript(_ label: String) -> Node? {
            guard case .group(let entries) = self else { return nil }
            return entries.first { $0.label == label }?.node
        }
    }

    /// One entry of a group: its label (often empty, in lists) and what it holds.
    struct Entry {
        let label: String
        let node: Node
    }

    /// A value's place and type: `count` elements of `type` (a DM type code) from `offset`, or a
    /// structure (`fields`, their type codes).
    struct Value {
        let type: Int
        let count: Int
        let offset: Int
        let fields: [Int]
        let isArray: Bool
    }

    let bytes: [UInt8]
    let path: String
    private var version = 3
    /// Values little-endian (the header's byte-order flag is 1).
    private var little = true
    private var position = 0

    init(bytes: [UInt8], path: String) {
        self.bytes = bytes
        self.path = path
    }

    func fail(_ problem: String) -> ImageFileError { ImageFileError(path: path, problem: problem) }

    /// Bytes of one element of a simple DM type.
    private static let sizes = [2: 2, 3: 4, 4: 2, 5: 4, 6: 4, 7: 8, 8: 1, 9: 1, 10: 1, 11: 8, 12: 8]

    /// The root group.
    mutating func parseFile() throws(ImageFileError) -> Node {
        guard bytes.count >= 16 else { throw fail("not a DigitalMicrograph file (too short)") }
        version = try header(4)
        guard version == 3 || version == 4 else {
            throw fail("not a DigitalMicrograph 3 or 4 file (version \(version))")
        }
        _ = try header(version == 4 ? 8 : 4)  // the size of the root group
        little = try header(4) == 1
        return try group(depth: 0)
    }

    /// A big-endian integer of `size` bytes at the read position (tag headers are big-endian).
    private mutating func header(_ size: Int) throws(ImageFileError) -> Int {
        guard position + size <= bytes.count else { throw fail("truncated at byte \(position)") }
        var value = 0
        for k in 0..<size { value = value << 8 | Int(bytes[position + k]) }
        position += size
        guard value >= 0 else { throw fail("a size beyond 2^63 at byte \(position - size)") }
        return value
    }

    private mutating func group(depth: Int) throws(ImageFileError) -> Node {
        guard depth < 64 else { throw fail("tag groups nested more than 64 deep") }
        position += 2  // sorted, open
        let count = try header(version == 4 ? 8 : 4)
        guard count < 1 << 24 else { throw fail("a tag group claims \(count) entries") }
        var entries: [Entry] = []
        for _ in 0..<count {
            let kind = try header(1)
            let labelLength = try header(2)
            guard position + labelLength <= bytes.count else { throw fail("truncated in a tag label") }
            let label = String(decoding: bytes[position..<(position + labelLength)], as: UTF8.self)
            position += labelLength
            if version == 4 { _ = try header(8) }  // the entry's size
            switch kind {
            case 20: entries.append(Entry(label: label, node: try group(depth: depth + 1)))
            case 21: entries.append(Entry(label: label, node: .value(try value(label))))
            case 0: return .group(entries)  // end of the file's tags
            default: throw fail("tag '\(label)' has kind \(kind), neither a group (20) nor data (21)")
            }
        }
        return .group(entries)
    }

    private mutating func value(_ label: String) throws(ImageFileError) -> Value {
        guard position + 4 <= bytes.count, bytes[position..<(position + 4)].elementsEqual("%%%%".utf8) else {
            throw fail("tag '\(label)' lacks its %%%% marker")
        }
        position += 4
        let infoCount = try header(version == 4 ? 8 : 4)
        guard (1...1024).contains(infoCount) else { throw fail("tag '\(label)' has \(infoCount) type words") }
        var info: [Int] = []
        for _ in 0..<infoCount { info.append(try header(version == 4 ? 8 : 4)) }
        let start = position
        let value: Value
        let size: Int
        switch info[0] {
        case 15:  // a structure: name length, field count, then (name length, type) per field
            let fields = try structFields(info, from: 1, label)
            value = Value(type: 15, count: 1, offset: start, fields: fields, isArray: false)
            size = try structSize(fields, label)
        case 18:  // a string of UTF-16 code units
            guard info.count >= 2, info[1] <= bytes.count else {
                throw fail("tag '\(label)': a string without a valid length")
            }
            value = Value(type: 4, count: info[1], offset: start, fields: [], isArray: true)
            size = 2 * info[1]
        case 20:  // an array of simple values or of structures
            guard info.count >= 3, info[info.count - 1] <= bytes.count, info[2] <= bytes.count else {
                throw fail("tag '\(label)': an array without a valid length")
            }
            if info[1] == 15 {
                let fields = try structFields(info, from: 2, label)
                let count = info[info.count - 1]
                let each = try structSize(fields, label)
                value = Value(type: 15, count: count, offset: start, fields: fields, isArray: true)
                size = each * count
            } else {
                value = Value(type: info[1], count: info[2], offset: start, fields: [], isArray: true)
                size = try elementSize(info[1], label) * info[2]
            }
        default:
            value = Value(type: info[0], count: 1, offset: start, fields: [], isArray: false)
            size = try elementSize(info[0], label)
        }
        guard size >= 0, start + size <= bytes.count else {
            throw fail("tag '\(label)''s data lies beyond the end of the file")
        }
        position = start + size
        return value
    }

    private func structFields(_ info: [Int], from index: Int, _ label: String) throws(ImageFileError) -> [Int] {
        guard info.count > index + 1 else { throw fail("tag '\(label)': a structure without its fields") }
        let count = info[index + 1]
        guard count >= 0, count <= info.count, info.count >= index + 2 + 2 * count else {
            throw fail("tag '\(label)': a structure of \(count) fields with \(info.count) type words")
        }
        return (0..<count).map { info[index + 3 + 2 * $0] }
    }

    private func structSize(_ fields: [Int], _ label: String) throws(ImageFileError) -> Int {
        var size = 0
        for field in fields { size += try elementSize(field, label) }
        return size
    }

    private func elementSize(_ type: Int, _ label: String) throws(ImageFileError) -> Int {
        guard let size = Self.sizes[type] else { throw fail("tag '\(label)' has element type \(type)") }
        return size
    }

    /// The sample type of a simple DM type code.
    private func simpleType(_ type: Int) -> SampleType? {
        switch type {
        case 2: SampleType(.signed, size: 2, bigEndian: !little)
        case 3: SampleType(.signed, size: 4, bigEndian: !little)
        case 4: SampleType(.unsigned, size: 2, bigEndian: !little)
        case 5: SampleType(.unsigned, size: 4, bigEndian: !little)
        case 6: SampleType(.float, size: 4, bigEndian: !little)
        case 7: SampleType(.float, size: 8, bigEndian: !little)
        case 8, 9: SampleType(.unsigned, size: 1)
        case 10: SampleType(.signed, size: 1)
        case 11: SampleType(.signed, size: 8, bigEndian: !little)
        case 12: SampleType(.unsigned, size: 8, bigEndian: !little)
        default: nil
        }
    }

    /// The pixels' type: the image's DataType (Gatan's codes), checked against the array's element type.
    func sampleType(of data: Value, dataType: Int) throws(ImageFileError) -> SampleType {
        let byCode: [Int: (SampleType.Kind, Int)] = [
            1: (.signed, 2), 2: (.float, 4), 6: (.unsigned, 1), 7: (.signed, 4), 9: (.signed, 1), 10: (.unsigned, 2),
            11: (.unsigned, 4), 12: (.float, 8), 14: (.unsigned, 1),
        ]
        if [3, 5, 13, 27, 28].contains(dataType) {
            throw fail("the image is complex (an FFT, data type \(dataType)), which has no single intensity")
        }
        guard let (kind, size) = byCode[dataType], let type = SampleType(kind, size: size, bigEndian: !little) else {
            throw fail("image data type \(dataType) is not a grayscale type ScopePilot reads")
        }
        guard data.isArray, data.type != 15, let stored = Self.sizes[data.type], stored == size else {
            throw fail("the image's data (element type \(data.type)) does not match its data type \(dataType)")
        }
        return type
    }

    /// A simple value as an integer.
    func integer(_ node: Node?) -> Int? {
        real(node).map { Int($0) }
    }

    /// A simple value as a real number.
    func real(_ node: Node?) -> Double? {
        guard case .value(let value)? = node, !value.isArray, let type = simpleType(value.type) else { return nil }
        return bytes.withUnsafeBytes { raw in
            Double(type.value(in: UnsafeRawBufferPointer(rebasing: raw[value.offset...]), at: 0))
        }
    }

    /// An array of 16-bit code units (DM's strings) as text.
    func text(_ node: Node?) -> String? {
        guard case .value(let value)? = node, value.isArray, value.type == 4 else { return nil }
        let units = (0..<value.count).map { k -> UInt16 in
            let at = value.offset + 2 * k
            return little
                ? UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 : UInt16(bytes[at]) << 8 | UInt16(bytes[at + 1])
        }
        return String(decoding: units, as: UTF16.self)
    }
}
