import Foundation
import Testing
import WireProtocol

@Suite("Frame codec")
struct FrameCodecTests {
    @Test(
        "uint16 and float32 frames with one or two channels survive a round trip",
        arguments: [
            (PixelType.uint16, ["HAADF"]), (.uint16, ["HAADF", "MAADF"]), (.float32, ["HAADF"]),
            (.float32, ["BF", "HAADF"]),
        ])
    func roundTrip(dtype: PixelType, channels: [String]) throws {
        let frame = Fixtures.frame(width: 5, height: 3, dtype: dtype, channels: channels)
        let parts = try FrameCodec.encode(frame)
        #expect(parts.count == 2 + channels.count)
        #expect(parts[0].equals(utf8: "frame"))
        let decoded = try FrameCodec.decode(parts)
        #expect(decoded.header == frame.header)
        for (a, b) in zip(decoded.channels, frame.channels) {
            #expect(a.floats() == b.floats())
            #expect(a.dtype == dtype)
        }
    }

    @Test("the header is JSON with the documented field names")
    func headerFieldNames() throws {
        let object = Fixtures.headerObject()
        #expect(object["protocol"] as? String == "1.2")
        #expect(object["seq"] as? Int == 7)
        #expect(object["shape"] as? [Int] == [3, 4])
        #expect(object["command_id"] as? String == "c-000017")
        let scan = try #require(object["scan"] as? [String: Any])
        for key in [
            "center_x_nm", "center_y_nm", "fov_x_nm", "fov_y_nm", "width", "height", "dwell_us", "rotation_deg",
        ] {
            #expect(scan[key] != nil, "scan.\(key) missing")
        }
        let optics = try #require(object["optics"] as? [String: Any])
        #expect(optics["beam_energy_kv"] as? Double == 80)
    }

    @Test("optional fields may be absent and unknown fields are ignored")
    func optionalAndUnknownFields() throws {
        var object = Fixtures.headerObject()
        for key in ["command_id", "purpose", "resent", "optics"] { object[key] = nil }
        object["future_field"] = ["anything": 1]
        object["protocol"] = "1.7"
        let frame = try FrameCodec.decode(Fixtures.parts(header: object, pixels: Fixtures.pixelBytes()))
        #expect(frame.header.commandID == nil)
        #expect(frame.header.optics == nil)
        #expect(frame.header.protocolVersion == ProtocolVersion(major: 1, minor: 7))
    }

    static let pixels = Fixtures.pixelBytes()
    static func edited(_ path: String, _ value: (any Sendable)?) -> @Sendable () -> [any ByteStorage] {
        { Fixtures.parts(header: setting(Fixtures.headerObject(), path, value), pixels: pixels) }
    }

    static let rejections: [RejectionCase] = [
        RejectionCase(name: "too few parts", code: .wrongPartCount, mentions: ["at least 3"]) {
            [Array("frame".utf8), Fixtures.json(Fixtures.headerObject())]
        },
        RejectionCase(name: "unknown topic", code: .unknownTopic, mentions: ["topic 'frames'"]) {
            [Array("frames".utf8), Fixtures.json(Fixtures.headerObject())] + pixels
        },
        RejectionCase(name: "header not JSON", code: .notJSON, mentions: ["frame header", "JSON"]) {
            [Array("frame".utf8), Array("{seq: 1".utf8)] + pixels
        },
        RejectionCase(name: "header is an array", code: .notJSON, mentions: ["JSON object"]) {
            [Array("frame".utf8), Array("[1, 2]".utf8)] + pixels
        },
        RejectionCase(name: "header with a NaN literal", code: .notJSON, mentions: ["JSON"]) {
            let text = String(decoding: Fixtures.json(Fixtures.headerObject()), as: UTF8.self)
                .replacingOccurrences(of: "\"dwell_us\":2", with: "\"dwell_us\":NaN")
            return [Array("frame".utf8), Array(text.utf8)] + pixels
        },
        RejectionCase(
            name: "no protocol field", code: .missingField, mentions: ["'protocol'"], parts: edited("protocol", nil)),
        RejectionCase(
            name: "unparseable version", code: .unparseableVersion, mentions: ["'one'", "MAJOR.MINOR"],
            parts: edited("protocol", "one")),
        RejectionCase(
            name: "other major version", code: .incompatibleVersion, mentions: ["2.0", "major"],
            parts: edited("protocol", "2.0")),
        RejectionCase(name: "missing seq", code: .missingField, mentions: ["'seq'"], parts: edited("seq", nil)),
        RejectionCase(
            name: "missing nested dwell", code: .missingField, mentions: ["'scan.dwell_us'"],
            parts: edited("scan.dwell_us", nil)),
        RejectionCase(
            name: "seq of the wrong type", code: .invalidField, mentions: ["'seq'", "wrong type"],
            parts: edited("seq", "seven")),
        RejectionCase(name: "negative seq", code: .invalidField, mentions: ["'seq'"], parts: edited("seq", -1)),
        RejectionCase(
            name: "negative dwell", code: .invalidField, mentions: ["'scan.dwell_us'", "positive"],
            parts: edited("scan.dwell_us", -3)),
        RejectionCase(
            name: "zero field of view", code: .invalidField, mentions: ["'scan.fov_x_nm'"],
            parts: edited("scan.fov_x_nm", 0)),
        RejectionCase(
            name: "absurd width", code: .invalidField, mentions: ["'scan.width'"],
            parts: edited("scan.width", 1_000_000)),
        RejectionCase(
            name: "unsupported dtype", code: .invalidField, mentions: ["'dtype'", "int8", "uint16"],
            parts: edited("dtype", "int8")),
        RejectionCase(
            name: "shape disagrees with scan", code: .invalidField, mentions: ["'shape'"],
            parts: edited("shape", [3, 5])),
        RejectionCase(
            name: "shape not 2-D", code: .invalidField, mentions: ["'shape'"], parts: edited("shape", [3, 4, 1])),
        RejectionCase(
            name: "repeated channel", code: .invalidField, mentions: ["'channels'"],
            parts: edited("channels", ["HAADF", "HAADF"])),
        RejectionCase(
            name: "no channels", code: .invalidField, mentions: ["channels"], parts: edited("channels", [String]())),
        RejectionCase(
            name: "empty session", code: .invalidField, mentions: ["'session'"], parts: edited("session", "")),
        RejectionCase(
            name: "end before start", code: .invalidField, mentions: ["'time.end'"], parts: edited("time.end", 1.0)),
        RejectionCase(
            name: "tilt out of range", code: .invalidField, mentions: ["'stage.alpha_deg'"],
            parts: edited("stage.alpha_deg", 400)),
        RejectionCase(
            name: "absurd beam energy", code: .invalidField, mentions: ["'optics.beam_energy_kv'"],
            parts: edited("optics.beam_energy_kv", 0)),
        RejectionCase(name: "more pixel parts than channels", code: .wrongPartCount, mentions: ["one per channel"]) {
            Fixtures.parts(header: Fixtures.headerObject(), pixels: pixels + pixels)
        },
        RejectionCase(name: "payload one byte short", code: .payloadSize, mentions: ["23 bytes", "need 24", "HAADF"]) {
            Fixtures.parts(header: Fixtures.headerObject(), pixels: [Array(pixels[0].dropLast())])
        },
        RejectionCase(name: "NaN pixel", code: .nonFinitePixels, mentions: ["1 NaN or infinite", "row 1, column 2"]) {
            var values = (0..<12).map { Float($0) }
            values[6] = .nan
            let frame = Fixtures.frame(dtype: .float32)
            return Fixtures.parts(header: Fixtures.headerObject(frame), pixels: [PixelBuffer.bytes(of: values)])
        },
        RejectionCase(
            name: "infinite pixels", code: .nonFinitePixels, mentions: ["2 NaN or infinite", "row 0, column 0"]
        ) {
            var values = (0..<12).map { Float($0) }
            values[0] = .infinity
            values[11] = -.infinity
            let frame = Fixtures.frame(dtype: .float32)
            return Fixtures.parts(header: Fixtures.headerObject(frame), pixels: [PixelBuffer.bytes(of: values)])
        },
    ]

    @Test("every malformed frame is refused with a precise error", arguments: rejections)
    func rejection(_ case_: RejectionCase) {
        case_.expectRefused { parts throws(ProtocolError) in _ = try FrameCodec.decode(parts) }
    }

    @Test("the seq of a refused frame can still be read for the log")
    func salvage() {
        var values = [Float](repeating: 1, count: 12)
        values[3] = .nan
        let frame = Fixtures.frame(seq: 42, dtype: .float32)
        let parts = Fixtures.parts(header: Fixtures.headerObject(frame), pixels: [PixelBuffer.bytes(of: values)])
        #expect(FrameCodec.salvageHeader(parts)?.seq == 42)
        #expect(FrameCodec.salvageHeader([Array("frame".utf8), Array("nope".utf8)]) == nil)
    }

    @Test("a header of megabytes is refused unread, for its size, on both channels")
    func hugeHeaderRefusedUnread() throws {
        var object = Fixtures.headerObject()
        object["note"] = String(repeating: "x", count: 2_000_000)
        let parts = Fixtures.parts(header: object, pixels: [[UInt8](repeating: 0, count: 24)])
        do {
            _ = try FrameCodec.decode(parts)
            Issue.record("a 2 MB header was accepted")
        } catch {
            #expect(error.code == .payloadSize)
            #expect(error.message.contains("at most 65536 bytes of JSON"), "\(error.message)")
            #expect(error.message.count < 200)
        }
        #expect(FrameCodec.salvageHeader(parts) == nil)
        let envelope = Array(
            #"{"protocol":"1.1","type":"heartbeat","session":"\#(String(repeating: "s", count: 70_000))"}"#.utf8)
        #expect(throws: ProtocolError.self) { try ControlCodec.decode([envelope]) }
        // A header just under the bound is read as usual.
        object["note"] = String(repeating: "x", count: 60_000)
        #expect(throws: Never.self) {
            try FrameCodec.decode(Fixtures.parts(header: object, pixels: parts.suffix(1).map(\.bytes)))
        }
    }

    @Test("a frame whose header fails validation is not encoded")
    func encodeValidates() {
        var frame = Fixtures.frame()
        frame.header.scan.dwell = .nan
        #expect(throws: ProtocolError.self) { try FrameCodec.encode(frame) }
    }
}

extension PixelBuffer {
    /// Little-endian bytes of float values.
    static func bytes(of values: [Float]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }
}

@Suite("Integer fields")
struct IntegerFieldTests {
    @Test(
        "numbers that do not fit an integer field are refused naming the field",
        arguments: [
            ("seq", -1.0), ("seq", 1.5), ("seq", 1e30), ("scan.width", 2.5), ("scan.height", 7.25),
        ])
    func outOfRange(path: String, value: Double) {
        let parts = Fixtures.parts(header: setting(Fixtures.headerObject(), path, value), pixels: Fixtures.pixelBytes())
        do {
            _ = try FrameCodec.decode(parts)
            Issue.record("decoded \(path) = \(value)")
        } catch {
            #expect(error.code == .invalidField)
            #expect(error.message.contains("'\(path)'"), "\(error.message)")
            #expect(error.message.contains("whole number"), "\(error.message)")
        }
    }
}
