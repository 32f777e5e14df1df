import Foundation

/// Encodes and decodes frame-feed messages: `[topic, header JSON, one pixel part per channel]`.
public enum FrameCodec {
    /// The topic of frame messages; subscribers subscribe to this prefix.
    public static let topic = "frame"

    /// The parts of a feed message for `frame`. Pixel parts are shared, not copied.
    public static func encode(_ frame: Frame) throws(ProtocolError) -> [any ByteStorage] {
        [Array(topic.utf8)] + (try encodeBody(frame))
    }

    /// Header and pixel parts, without the topic: the form a frame takes inside other messages.
    public static func encodeBody(_ frame: Frame) throws(ProtocolError) -> [any ByteStorage] {
        try frame.header.validate()
        let header = try JSONWire.encode(frame.header, what: "frame header")
        return [header] + frame.channels.map(\.storage)
    }

    /// Decodes and validates a feed message.
    public static func decode(_ parts: [any ByteStorage]) throws(ProtocolError) -> Frame {
        guard parts.count >= 3 else {
            throw .wrongPartCount(
                "frame message", expected: "at least 3 (topic, header, pixels)", got: parts.count)
        }
        guard parts[0].equals(utf8: topic) else {
            let shown = String(decoding: parts[0].bytes.prefix(64), as: UTF8.self)
            throw ProtocolError(
                code: .unknownTopic, message: "frame message: unknown topic '\(shown)' (expected '\(topic)')")
        }
        return try decodeBody(parts.dropFirst())
    }

    /// Decodes header and pixel parts.
    public static func decodeBody(_ parts: ArraySlice<any ByteStorage>) throws(ProtocolError) -> Frame {
        guard let headerPart = parts.first else {
            throw .wrongPartCount("frame", expected: "a header and pixel parts", got: 0)
        }
        let what = "frame header"
        let header: FrameHeader
        do {
            header = try JSONWire.decode(FrameHeader.self, from: headerPart, what: what)
        } catch {
            // A header of another major version is refused for its version, not for a field it lacks.
            _ = try JSONWire.decode(VersionProbe.self, from: headerPart, what: what).version(what: what)
            throw error
        }
        guard header.protocolVersion.isCompatible(with: .current) else {
            throw .incompatibleVersion(what, theirs: header.protocolVersion)
        }
        try header.validate()

        let pixelParts = parts.dropFirst()
        let frameName = "frame \(header.seq) of session \(header.session)"
        guard pixelParts.count == header.channels.count else {
            throw .wrongPartCount(
                frameName, expected: "1 header + \(header.channels.count) pixel (one per channel)",
                got: parts.count)
        }
        var buffers: [PixelBuffer] = []
        buffers.reserveCapacity(pixelParts.count)
        for (name, part) in zip(header.channels, pixelParts) {
            let buffer: PixelBuffer
            do {
                buffer = try PixelBuffer(
                    dtype: header.dtype, width: header.scan.width, height: header.scan.height, storage: part)
            } catch {
                throw ProtocolError(code: error.code, message: "\(frameName), channel \(name): \(error.message)")
            }
            if let bad = buffer.nonFinitePixels() {
                throw ProtocolError(
                    code: .nonFinitePixels,
                    message:
                        "\(frameName), channel \(name): \(bad.count) NaN or infinite pixel(s),"
                        + " the first at row \(bad.firstRow), column \(bad.firstColumn)")
            }
            buffers.append(buffer)
        }
        return try Frame(header: header, channels: buffers)
    }

    /// The header of a feed message if it can be read, even when the frame is otherwise refused:
    /// lets a receiver log which seq a rejected frame had.
    public static func salvageHeader(_ parts: [any ByteStorage]) -> (session: String, seq: UInt64)? {
        guard parts.count >= 2 else { return nil }
        struct Salvage: Decodable {
            var session: String
            var seq: UInt64
        }
        guard let salvage = try? JSONWire.decode(Salvage.self, from: parts[1], what: "") else { return nil }
        return (salvage.session, salvage.seq)
    }
}
