import Foundation
import Testing
import WireProtocol

/// Frames and messages the tests start from.
enum Fixtures {
    static let session = "drv-test"

    static func header(
        seq: UInt64 = 7, width: Int = 4, height: Int = 3, dtype: PixelType = .uint16,
        channels: [String] = ["HAADF"]
    ) -> FrameHeader {
        FrameHeader(
            session: session, seq: seq, time: .init(start: 1_763_710_201.25, end: 1_763_710_201.5),
            scan: ScanGeometry(
                centerX: 120, centerY: -40.5, fovX: 16, width: width, height: height, dwell: 2, rotation: 5),
            stage: StagePosition(x: 118.2, y: -41), channels: channels, dtype: dtype, commandID: "c-000017",
            purpose: .scan, optics: Optics(beamEnergy: 80, convergence: 25.2, defocus: 1.5, probeCurrent: 30))
    }

    static func frame(
        seq: UInt64 = 7, width: Int = 4, height: Int = 3, dtype: PixelType = .uint16,
        channels: [String] = ["HAADF"]
    ) -> Frame {
        let header = header(seq: seq, width: width, height: height, dtype: dtype, channels: channels)
        let buffers = channels.indices.map { channel -> PixelBuffer in
            switch dtype {
            case .uint16:
                try! PixelBuffer(
                    uint16: (0..<(width * height)).map { UInt16($0 * 3 + channel) }, width: width, height: height)
            case .float32:
                try! PixelBuffer(
                    float32: (0..<(width * height)).map { Float($0) * 0.5 + Float(channel) }, width: width,
                    height: height)
            }
        }
        return try! Frame(header: header, channels: buffers)
    }

    /// The header of `frame` as a JSON object, for tests that edit it.
    static func headerObject(_ frame: Frame = frame()) -> [String: Any] {
        let parts = try! FrameCodec.encode(frame)
        return try! JSONSerialization.jsonObject(with: Data(parts[1].bytes)) as! [String: Any]
    }

    static func json(_ object: Any) -> [UInt8] {
        Array(try! JSONSerialization.data(withJSONObject: object))
    }

    static func parts(header: [String: Any], pixels: [[UInt8]]) -> [any ByteStorage] {
        [Array("frame".utf8), json(header)] + pixels
    }

    static func pixelBytes(_ frame: Frame = frame()) -> [[UInt8]] {
        frame.channels.map { $0.storage.bytes }
    }
}

/// Sets `value` at a dotted `path` ("scan.dwell_us") in a JSON object; nil removes the key.
func setting(_ object: [String: Any], _ path: String, _ value: Any?) -> [String: Any] {
    var object = object
    let keys = path.split(separator: ".").map(String.init)
    if keys.count == 1 {
        object[keys[0]] = value
    } else {
        let inner = object[keys[0]] as? [String: Any] ?? [:]
        object[keys[0]] = setting(inner, keys.dropFirst().joined(separator: "."), value)
    }
    return object
}

/// A small deterministic generator (SplitMix64), so randomized tests repeat exactly.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// One way a message can be wrong: the code it must be refused with, and words the refusal must
/// contain (the field's path, the offending value).
struct RejectionCase: CustomTestStringConvertible, Sendable {
    let name: String
    let code: ProtocolError.Code
    let mentions: [String]
    let parts: @Sendable () -> [any ByteStorage]
    var testDescription: String { name }

    init(
        name: String, code: ProtocolError.Code, mentions: [String], parts: @escaping @Sendable () -> [any ByteStorage]
    ) {
        self.name = name
        self.code = code
        self.mentions = mentions
        self.parts = parts
    }

    /// Records an issue unless `decode` refuses the parts as expected.
    func expectRefused(by decode: ([any ByteStorage]) throws(ProtocolError) -> Void) {
        do {
            try decode(parts())
            Issue.record("\(name): decoded, but must be refused")
        } catch {
            #expect(error.code == code, "\(name): \(error.message)")
            for word in mentions {
                #expect(error.message.contains(word), "\(name): '\(error.message)' should mention '\(word)'")
            }
        }
    }
}
