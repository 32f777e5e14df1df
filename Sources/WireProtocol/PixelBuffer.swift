/// One channel of a frame: `height` rows of `width` little-endian pixels of one type, row-major,
/// origin top-left.
///
/// The bytes are shared, not copied: a buffer made from a received message part reads straight
/// from that part. Reads tolerate unaligned storage.
public struct PixelBuffer: Sendable {
    /// The element type.
    public let dtype: PixelType
    /// Columns.
    public let width: Int
    /// Rows.
    public let height: Int
    /// The raw bytes, `width * height * dtype.size` of them.
    public let storage: any ByteStorage

    /// Wraps existing bytes, checking that their size matches the shape.
    public init(dtype: PixelType, width: Int, height: Int, storage: any ByteStorage) throws(ProtocolError) {
        guard width > 0, height > 0 else {
            throw ProtocolError(
                code: .invalidField, message: "pixel buffer: shape \(height)x\(width) must be positive")
        }
        let (pixels, overflow1) = width.multipliedReportingOverflow(by: height)
        let (expected, overflow2) = pixels.multipliedReportingOverflow(by: dtype.size)
        guard !overflow1, !overflow2, storage.byteCount == expected else {
            throw ProtocolError(
                code: .payloadSize,
                message:
                    "pixel buffer: \(storage.byteCount) bytes, but \(height) rows x \(width) columns of \(dtype.rawValue)"
                    + " need \(overflow1 || overflow2 ? "more than Int.max" : String(expected))")
        }
        self.dtype = dtype
        self.width = width
        self.height = height
        self.storage = storage
    }

    /// A buffer holding `values` (row-major) as uint16.
    public init(uint16 values: [UInt16], width: Int, height: Int) throws(ProtocolError) {
        try self.init(dtype: .uint16, width: width, height: height, storage: values)
    }

    /// A buffer holding `values` (row-major) as float32.
    public init(float32 values: [Float], width: Int, height: Int) throws(ProtocolError) {
        try self.init(dtype: .float32, width: width, height: height, storage: values)
    }

    /// The number of pixels.
    public var count: Int { width * height }

    /// The pixels converted to `Float`, row-major.
    public func floats() -> [Float] {
        storage.withUnsafeBytes { raw in
            [Float](unsafeUninitializedCapacity: count) { out, initialized in
                switch dtype {
                case .uint16:
                    for i in 0..<count {
                        out[i] = Float(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                    }
                case .float32:
                    for i in 0..<count {
                        let bits = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
                        out[i] = Float(bitPattern: bits)
                    }
                }
                initialized = count
            }
        }
    }

    /// The pixel at (`row`, `column`) as a `Float`.
    public subscript(row: Int, column: Int) -> Float {
        precondition(row >= 0 && row < height && column >= 0 && column < width, "pixel index out of range")
        let index = row * width + column
        return storage.withUnsafeBytes { raw in
            switch dtype {
            case .uint16:
                Float(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self)))
            case .float32:
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * index, as: UInt32.self)))
            }
        }
    }

    /// Where the float pixels are NaN or infinite, if anywhere: how many, and the first one.
    /// Integer buffers are always finite.
    public func nonFinitePixels() -> (count: Int, firstRow: Int, firstColumn: Int)? {
        guard dtype == .float32 else { return nil }
        return storage.withUnsafeBytes { raw -> (Int, Int, Int)? in
            // An IEEE single is NaN or infinite exactly when its eight exponent bits are all ones.
            let exponent: UInt32 = 0x7F80_0000
            var bad = 0
            for i in 0..<count {
                let bits = raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)
                bad &+= (UInt32(littleEndian: bits) & exponent) == exponent ? 1 : 0
            }
            guard bad > 0 else { return nil }
            for i in 0..<count {
                let bits = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
                if bits & exponent == exponent { return (bad, i / width, i % width) }
            }
            return nil
        }
    }
}
