/// The type of one stored pixel value: unsigned or signed integer or IEEE float, of 1 to 8 bytes,
/// in either byte order. The formats' own type codes (NumPy dtypes, TIFF sample formats, Gatan
/// data types) all map onto it.
struct SampleType: Sendable, Hashable, CustomStringConvertible {
    enum Kind: Sendable, Hashable { case unsigned, signed, float }

    let kind: Kind
    /// Bytes per value: 1, 2, 4 or 8 (floats 2, 4 or 8).
    let size: Int
    /// Whether the bytes are most significant first.
    let bigEndian: Bool

    /// A type, or nil for a combination no format stores (a 1-byte float, a 3-byte integer).
    init?(_ kind: Kind, size: Int, bigEndian: Bool = false) {
        switch (kind, size) {
        case (.float, 2), (.float, 4), (.float, 8), (.unsigned, 1), (.unsigned, 2), (.unsigned, 4), (.unsigned, 8),
            (.signed, 1), (.signed, 2), (.signed, 4), (.signed, 8):
            break
        default: return nil
        }
        self.kind = kind
        self.size = size
        self.bigEndian = bigEndian && size > 1
    }

    /// The same type in the other byte order.
    func withBigEndian(_ big: Bool) -> SampleType { SampleType(kind, size: size, bigEndian: big) ?? self }

    var description: String {
        let name =
            switch kind {
            case .unsigned: "uint"
            case .signed: "int"
            case .float: "float"
            }
        return "\(name)\(size * 8)\(size > 1 ? (bigEndian ? " big-endian" : " little-endian") : "")"
    }

    /// The value `index` of an array of this type starting at `raw`'s first byte.
    @inline(__always)
    func value(in raw: UnsafeRawBufferPointer, at index: Int) -> Float {
        let offset = index * size
        @inline(__always)
        func bits<T: FixedWidthInteger>(_: T.Type) -> T {
            let stored = raw.loadUnaligned(fromByteOffset: offset, as: T.self)
            return bigEndian ? T(bigEndian: stored) : T(littleEndian: stored)
        }
        switch (kind, size) {
        case (.float, 2): return Self.half(bits(UInt16.self))
        case (.float, 4): return Float(bitPattern: bits(UInt32.self))
        case (.float, 8): return Float(Double(bitPattern: bits(UInt64.self)))
        case (.signed, 1): return Float(Int8(bitPattern: raw[offset]))
        case (.signed, 2): return Float(Int16(bitPattern: bits(UInt16.self)))
        case (.signed, 4): return Float(Int32(bitPattern: bits(UInt32.self)))
        case (.signed, 8): return Float(Int64(bitPattern: bits(UInt64.self)))
        case (.unsigned, 1): return Float(raw[offset])
        case (.unsigned, 2): return Float(bits(UInt16.self))
        case (.unsigned, 4): return Float(bits(UInt32.self))
        default: return Float(bits(UInt64.self))
        }
    }

    /// `count` values from the start of `bytes`, which must hold at least `count * size` bytes.
    func values(_ bytes: ArraySlice<UInt8>, count: Int) -> [Float] {
        precondition(bytes.count >= count * size, "too few bytes for \(count) values")
        return bytes.withUnsafeBytes { raw in
            [Float](unsafeUninitializedCapacity: count) { buffer, initialised in
                for i in 0..<count { buffer[i] = value(in: raw, at: i) }
                initialised = count
            }
        }
    }

    /// IEEE 754 half precision to single.
    static func half(_ h: UInt16) -> Float {
        let sign: Float = h & 0x8000 != 0 ? -1 : 1
        let exponent = Int((h >> 10) & 0x1F)
        let mantissa = Float(h & 0x3FF)
        switch exponent {
        case 0: return sign * mantissa * 0x1p-24
        case 31: return mantissa == 0 ? sign * .infinity : .nan
        default: return sign * (1 + mantissa / 1024) * Float(sign: .plus, exponent: exponent - 15, significand: 1)
        }
    }
}
