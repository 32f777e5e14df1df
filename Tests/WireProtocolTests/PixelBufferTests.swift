import Testing
import WireProtocol

@Suite("Pixel buffers")
struct PixelBufferTests {
    @Test("little-endian uint16 bytes read back as the right values, even unaligned")
    func unalignedRead() throws {
        // One leading byte makes every pixel unaligned in the slice that follows.
        let bytes: [UInt8] = [0xFF, 0x01, 0x00, 0x00, 0x01, 0xFF, 0xFF, 0x34, 0x12]
        let buffer = try PixelBuffer(dtype: .uint16, width: 2, height: 2, storage: Array(bytes.dropFirst()))
        #expect(buffer.floats() == [1, 256, 65535, 0x1234])
        #expect(buffer[1, 0] == 65535)
    }

    @Test("float32 buffers report their non-finite pixels")
    func nonFinite() throws {
        let clean = try PixelBuffer(float32: [0, -1, 3.5, 1e30], width: 2, height: 2)
        #expect(clean.nonFinitePixels() == nil)
        let dirty = try PixelBuffer(float32: [0, .nan, 3.5, .infinity], width: 2, height: 2)
        let bad = try #require(dirty.nonFinitePixels())
        #expect(bad.count == 2 && bad.firstRow == 0 && bad.firstColumn == 1)
    }

    @Test("a buffer whose size does not match its shape is refused")
    func sizeMismatch() {
        #expect(throws: ProtocolError.self) { try PixelBuffer(uint16: [1, 2, 3], width: 2, height: 2) }
        #expect(throws: ProtocolError.self) { try PixelBuffer(uint16: [], width: 0, height: 2) }
        #expect(throws: ProtocolError.self) {
            try PixelBuffer(dtype: .float32, width: Int.max / 2, height: 4, storage: [UInt8]())
        }
    }

    @Test("protocol versions parse strictly and compare by major")
    func versions() {
        #expect(ProtocolVersion("1.0") == ProtocolVersion(major: 1, minor: 0))
        #expect(ProtocolVersion("1.12")?.minor == 12)
        for bad in ["1", "1.", ".1", "1.0.0", "a.b", "-1.0", "1.x", ""] {
            #expect(ProtocolVersion(bad) == nil, "\(bad)")
        }
        #expect(ProtocolVersion.current.isCompatible(with: ProtocolVersion(major: 1, minor: 9)))
        #expect(!ProtocolVersion.current.isCompatible(with: ProtocolVersion(major: 2, minor: 0)))
    }
}
