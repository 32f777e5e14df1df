import Foundation

/// Encodes and decodes command-channel messages.
public enum ControlCodec {
    private enum EnvelopeKeys: String, CodingKey { case `protocol`, type, inReplyTo = "in_reply_to" }

    /// `{"protocol", "type"}` followed by the body's own fields, in one JSON object.
    private struct Envelope<Body: Encodable>: Encodable {
        let type: String
        let body: Body

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: EnvelopeKeys.self)
            try c.encode(ProtocolVersion.current.description, forKey: .protocol)
            try c.encode(type, forKey: .type)
            try body.encode(to: encoder)
        }
    }

    private struct FrameReply: Codable {
        var inReplyTo: CommandID
        enum CodingKeys: String, CodingKey { case inReplyTo = "in_reply_to" }
    }

    /// The parts of `message`.
    public static func encode(_ message: ControlMessage) throws(ProtocolError) -> [any ByteStorage] {
        let what = "\(message.type) message"
        func one<Body: Encodable>(_ body: Body) throws(ProtocolError) -> [any ByteStorage] {
            [try JSONWire.encode(Envelope(type: message.type, body: body), what: what)]
        }
        switch message {
        case .hello(let body): return try one(body)
        case .welcome(let body):
            try body.limits.validate(FieldChecker(what: what), at: "limits")
            return try one(body)
        case .command(let body):
            try body.validate()
            return try one(body)
        case .ack(let body): return try one(body)
        case .reject(let body): return try one(body)
        case .done(let body): return try one(body)
        case .failed(let body): return try one(body)
        case .heartbeat(let body): return try one(body)
        case .error(let body): return try one(body)
        case .frame(let id, let frame):
            return try one(FrameReply(inReplyTo: id)) + (try FrameCodec.encodeBody(frame))
        }
    }

    /// Decodes and validates a command-channel message (without the ROUTER's routing-id part).
    public static func decode(_ parts: [any ByteStorage]) throws(ProtocolError) -> ControlMessage {
        guard let envelope = parts.first else {
            throw .wrongPartCount("command-channel message", expected: "at least 1", got: 0)
        }
        let probe = try JSONWire.decode(VersionProbe.self, from: envelope, what: "command-channel message")
        _ = try probe.version(what: "command-channel message")
        guard let type = probe.type else { throw .missingField("command-channel message", "type") }
        guard ControlMessage.allTypes.contains(type) else {
            throw ProtocolError(
                code: .unknownMessageType,
                message:
                    "command-channel message: unknown type '\(type)' (known: "
                    + ControlMessage.allTypes.joined(separator: ", ") + ")")
        }
        let what = "\(type) message" + (probe.id.map { " \($0)" } ?? "")
        guard type == "frame" || parts.count == 1 else {
            throw .wrongPartCount(what, expected: "1", got: parts.count)
        }
        func body<T: Decodable>(_: T.Type) throws(ProtocolError) -> T {
            try JSONWire.decode(T.self, from: envelope, what: what)
        }
        let check = FieldChecker(what: what)
        switch type {
        case "hello":
            let hello = try body(Hello.self)
            try check.name(hello.id.rawValue, "id")
            try check.within(hello.heartbeatMilliseconds, 10...600_000, "heartbeat_ms")
            return .hello(hello)
        case "welcome":
            let welcome = try body(Welcome.self)
            try check.name(welcome.session, "session")
            try check.name(welcome.driver, "driver")
            try check.name(welcome.instrument, "instrument")
            try welcome.limits.validate(check, at: "limits")
            try check.within(welcome.heartbeatMilliseconds, 10...600_000, "heartbeat_ms")
            try check.within(welcome.watchdogMilliseconds, 10...3_600_000, "watchdog_ms")
            try welcome.replays?.validate(check, at: "replays")
            return .welcome(welcome)
        case "command":
            let command = try body(Command.self)
            try command.validate()
            return .command(command)
        case "ack": return .ack(try body(Ack.self))
        case "reject": return .reject(try body(Reject.self))
        case "done":
            let done = try body(Done.self)
            try done.readback.validate(check, at: "readback")
            return .done(done)
        case "failed":
            let failed = try body(Failed.self)
            try failed.readback?.validate(check, at: "readback")
            return .failed(failed)
        case "heartbeat":
            let heartbeat = try body(Heartbeat.self)
            try check.finite(heartbeat.sentAt, "sent_at")
            return .heartbeat(heartbeat)
        case "error": return .error(try body(ErrorReport.self))
        default:  // "frame"
            let reply = try body(FrameReply.self)
            guard parts.count >= 3 else {
                throw .wrongPartCount(what, expected: "at least 3 (envelope, header, pixels)", got: parts.count)
            }
            return .frame(inReplyTo: reply.inReplyTo, try FrameCodec.decodeBody(parts.dropFirst()))
        }
    }

    /// What can still be read from a message that failed to decode: its `type`, its `id` (so a
    /// driver can REJECT a malformed command by id) and its `in_reply_to` (so a daemon can match a
    /// malformed re-sent frame to its request).
    public static func salvage(_ parts: [any ByteStorage]) -> (type: String?, id: CommandID?, inReplyTo: CommandID?) {
        guard let envelope = parts.first,
            let probe = try? JSONWire.decode(VersionProbe.self, from: envelope, what: "")
        else { return (nil, nil, nil) }
        func nonEmpty(_ text: String?) -> CommandID? { text.flatMap { $0.isEmpty ? nil : CommandID($0) } }
        return (probe.type, nonEmpty(probe.id), nonEmpty(probe.inReplyTo))
    }
}
