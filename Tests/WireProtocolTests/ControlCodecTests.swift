import Foundation
import Testing
import WireProtocol

@Suite("Command-channel codec")
struct ControlCodecTests {
    static let geometry = ScanGeometry(
        centerX: 10, centerY: -5, fovX: 8, width: 256, height: 128, dwell: 4, rotation: 12)
    static let limits = InstrumentLimits(
        stageX: -1000...1000, stageY: -1000...1000, fov: 0.5...5000, dwell: 0.1...1000, pixels: 16...4096,
        detectors: ["HAADF", "MAADF"])

    static let messages: [ControlMessage] = [
        .hello(Hello(id: "hello-1", client: "scopepilot/0.1.0", heartbeatMilliseconds: 1000)),
        .welcome(
            Welcome(
                id: "hello-1", driver: "sim/0.1", instrument: "virtual", session: "drv-1",
                capabilities: CommandAction.allNames, limits: limits)),
        .welcome(
            Welcome(
                id: "hello-2", driver: "scopepilot-replay/0.1", instrument: "replay", session: "drv-2",
                capabilities: CommandAction.allNames, limits: limits,
                replays: .folder("/data/run-7", mode: "region"))),
        .command(
            Command(
                id: "c-1", deadline: .milliseconds(5000),
                action: .scanRegion(ScanRequest(geometry: geometry, channels: ["HAADF"])))),
        .command(Command(id: "c-2", deadline: .seconds(30), action: .moveStage(StagePosition(x: 1, y: 2, z: 3)))),
        .command(
            Command(
                id: "c-3", deadline: .seconds(60),
                action: .acquireReference(ReferenceRequest(scan: ScanRequest(geometry: geometry), count: 4)))),
        .command(Command(id: "c-4", deadline: .seconds(1), action: .blankBeam)),
        .command(Command(id: "c-5", deadline: .seconds(1), action: .unblankBeam)),
        .command(Command(id: "c-6", deadline: .seconds(1), action: .getState)),
        .command(Command(id: "c-7", deadline: .seconds(5), action: .resendFrames(from: 10, to: 14))),
        .command(Command(id: "c-8", deadline: .seconds(1), action: .abort("c-1"))),
        .command(Command(id: "c-9", deadline: .seconds(1), action: .abort(nil))),
        .ack(Ack(id: "c-1")),
        .reject(Reject(id: "c-1", code: ReasonCode.outOfRange, reason: "fov too large")),
        .reject(Reject(id: nil, code: ReasonCode.malformed, reason: "no id")),
        .done(
            Done(
                id: "c-1",
                readback: Readback(
                    stage: StagePosition(x: 1, y: 2), scan: geometry, beamBlanked: false, frames: [3], lastSeq: 3,
                    note: "served a.tif: its field is 4.0 nm, not 8.0"))),
        .failed(
            Failed(id: "c-1", code: ReasonCode.deadlineExceeded, reason: "late", readback: Readback(state: "idle"))),
        .heartbeat(Heartbeat(sentAt: 1_763_710_201.5, lastSeq: 99)),
        .error(ErrorReport(code: "not_json", reason: "garbage")),
        .frame(inReplyTo: "c-7", Fixtures.frame(seq: 12)),
    ]

    @Test("every message type survives a round trip", arguments: messages)
    func roundTrip(_ message: ControlMessage) throws {
        let parts = try ControlCodec.encode(message)
        let decoded = try ControlCodec.decode(parts)
        #expect(decoded.type == message.type)
        #expect(Self.describe(decoded) == Self.describe(message))
    }

    /// A comparable rendering (frames hold pixel storage, which is not Equatable).
    static func describe(_ message: ControlMessage) -> String {
        switch message {
        case .frame(let id, let frame): "frame \(id) \(frame.header) \(frame.channels.map { $0.floats() })"
        default: "\(message)"
        }
    }

    @Test("a command's JSON has the documented shape")
    func commandShape() throws {
        let command = Command(id: "c-42", deadline: .milliseconds(2500), action: .resendFrames(from: 3, to: 5))
        let object =
            try JSONSerialization.jsonObject(with: Data(try ControlCodec.encode(.command(command))[0].bytes))
            as! [String: Any]
        #expect(object["type"] as? String == "command")
        #expect(object["protocol"] as? String == "1.2")
        #expect(object["deadline_ms"] as? Int == 2500)
        #expect(object["action"] as? String == "resend_frames")
        #expect((object["params"] as? [String: Any])?["from_seq"] as? Int == 3)
    }

    static func envelope(_ fields: [String: Any]) -> [any ByteStorage] {
        var object: [String: Any] = ["protocol": "1.0"]
        object.merge(fields) { $1 }
        return [Fixtures.json(object)]
    }

    static var scanParams: [String: Any] {
        [
            "center_x_nm": 0, "center_y_nm": 0, "fov_x_nm": 8, "fov_y_nm": 8, "width": 64, "height": 64,
            "dwell_us": 2, "rotation_deg": 0,
        ]
    }

    static let rejections: [RejectionCase] = [
        RejectionCase(name: "no parts", code: .wrongPartCount, mentions: ["at least 1"]) { [] },
        RejectionCase(name: "not JSON", code: .notJSON, mentions: ["JSON"]) { [Array("hello".utf8)] },
        RejectionCase(name: "no protocol", code: .missingField, mentions: ["'protocol'"]) {
            [Fixtures.json(["type": "ack", "id": "c-1"])]
        },
        RejectionCase(name: "other major at HELLO", code: .incompatibleVersion, mentions: ["3.1", "major"]) {
            [Fixtures.json(["protocol": "3.1", "type": "hello", "id": "h", "client": "x", "heartbeat_ms": 1000])]
        },
        RejectionCase(name: "no type", code: .missingField, mentions: ["'type'"]) { envelope(["id": "c-1"]) },
        RejectionCase(name: "unknown type", code: .unknownMessageType, mentions: ["'launch'", "known:"]) {
            envelope(["type": "launch"])
        },
        RejectionCase(name: "extra part on a command", code: .wrongPartCount, mentions: ["expected 1"]) {
            envelope(["type": "ack", "id": "c-1"]) + [[UInt8]([1, 2, 3])]
        },
        RejectionCase(name: "unknown action", code: .invalidField, mentions: ["'action'", "'explode'", "scan_region"]) {
            envelope(["type": "command", "id": "c-1", "deadline_ms": 1000, "action": "explode"])
        },
        RejectionCase(name: "command without id", code: .missingField, mentions: ["'id'"]) {
            envelope(["type": "command", "deadline_ms": 1000, "action": "get_state"])
        },
        RejectionCase(name: "zero deadline", code: .invalidField, mentions: ["'deadline_ms'"]) {
            envelope(["type": "command", "id": "c-1", "deadline_ms": 0, "action": "get_state"])
        },
        RejectionCase(name: "scan without params", code: .missingField, mentions: ["'params'"]) {
            envelope(["type": "command", "id": "c-1", "deadline_ms": 1000, "action": "scan_region"])
        },
        RejectionCase(name: "scan with negative dwell", code: .invalidField, mentions: ["'params.dwell_us'"]) {
            var params = scanParams
            params["dwell_us"] = -1
            return envelope([
                "type": "command", "id": "c-1", "deadline_ms": 1000, "action": "scan_region", "params": params,
            ])
        },
        RejectionCase(name: "too many reference frames", code: .invalidField, mentions: ["'params.count'"]) {
            var params = scanParams
            params["count"] = 1000
            return envelope([
                "type": "command", "id": "c-1", "deadline_ms": 1000, "action": "acquire_reference", "params": params,
            ])
        },
        RejectionCase(name: "resend backwards", code: .invalidField, mentions: ["from_seq <= to_seq"]) {
            envelope([
                "type": "command", "id": "c-1", "deadline_ms": 1000, "action": "resend_frames",
                "params": ["from_seq": 9, "to_seq": 3],
            ])
        },
        RejectionCase(
            name: "welcome with inverted limits", code: .invalidField, mentions: ["'limits.fov_nm'", "min <= max"]
        ) {
            envelope([
                "type": "welcome", "id": "h", "driver": "d", "instrument": "i", "session": "s",
                "capabilities": [String](), "heartbeat_ms": 1000, "watchdog_ms": 5000,
                "limits": [
                    "stage_x_nm": [-1, 1], "stage_y_nm": [-1, 1], "fov_nm": [10, 1], "dwell_us": [1, 2],
                    "pixels": [16, 64], "detectors": ["HAADF"],
                ],
            ])
        },
        RejectionCase(
            name: "welcome replaying both a session and a folder", code: .invalidField,
            mentions: ["'replays'", "not both"]
        ) {
            envelope([
                "type": "welcome", "id": "h", "driver": "d", "instrument": "i", "session": "s",
                "capabilities": [String](), "heartbeat_ms": 1000, "watchdog_ms": 5000,
                "limits": [
                    "stage_x_nm": [-1, 1], "stage_y_nm": [-1, 1], "fov_nm": [1, 10], "dwell_us": [1, 2],
                    "pixels": [16, 64], "detectors": ["HAADF"],
                ],
                "replays": ["log": "a.sqlite", "session": "s-1", "folder": "/data", "mode": "order"],
            ])
        },
        RejectionCase(name: "a note of unprintable bytes", code: .invalidField, mentions: ["'readback.note'"]) {
            envelope(["type": "done", "id": "c-1", "readback": ["note": "bell \u{7}"]])
        },
        RejectionCase(name: "heartbeat interval of zero", code: .invalidField, mentions: ["'heartbeat_ms'"]) {
            envelope(["type": "hello", "id": "h", "client": "x", "heartbeat_ms": 0])
        },
        RejectionCase(name: "re-sent frame without pixels", code: .wrongPartCount, mentions: ["at least 3"]) {
            envelope(["type": "frame", "in_reply_to": "c-7"]) + [Fixtures.json(Fixtures.headerObject())]
        },
    ]

    @Test("every malformed command-channel message is refused with a precise error", arguments: rejections)
    func rejection(_ case_: RejectionCase) {
        case_.expectRefused { parts throws(ProtocolError) in _ = try ControlCodec.decode(parts) }
    }

    @Test("the id of a malformed command can be salvaged to REJECT it")
    func salvage() {
        let parts = Self.envelope(["type": "command", "id": "c-77", "deadline_ms": -5, "action": "get_state"])
        #expect(throws: ProtocolError.self) { try ControlCodec.decode(parts) }
        #expect(ControlCodec.salvage(parts).id == "c-77")
        #expect(ControlCodec.salvage([Array("x".utf8)]).id == nil)
    }
}
