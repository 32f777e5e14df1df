import BuiltInPolicies
import Foundation
import PolicyKit
import WireProtocol

/// The wire protocol's decoders, and what their callers do with a message they accepted.
enum WireInputs {
    /// A feed message: refused with a coded error, or accepted and then the same frame once more
    /// after encoding it again (what a replay or a re-sent copy carries).
    static func frame(_ parts: [[UInt8]]) -> FuzzOutcome {
        _ = FrameCodec.salvageHeader(parts)
        let frame: Frame
        do {
            frame = try FrameCodec.decode(parts)
        } catch {
            return .refused(error.message.isEmpty ? ["a refusal without a message (\(error.code))"] : [])
        }
        for channel in frame.channels { _ = channel.floats() }
        do {
            let again = try FrameCodec.decode(try FrameCodec.encode(frame))
            var violations: [String] = []
            if again.header != frame.header { violations.append("the header changed in a round trip") }
            if again.channels.map(\.storage.bytes) != frame.channels.map(\.storage.bytes) {
                violations.append("the pixels changed in a round trip")
            }
            return .accepted(violations)
        } catch {
            return .accepted(["an accepted frame does not survive a round trip: \(error.message)"])
        }
    }

    /// A command-channel message: refused with a coded error, or accepted, encoded again and
    /// accepted again as the same message.
    static func control(_ parts: [[UInt8]]) -> FuzzOutcome {
        _ = ControlCodec.salvage(parts)
        let message: ControlMessage
        do {
            message = try ControlCodec.decode(parts)
        } catch {
            return .refused(error.message.isEmpty ? ["a refusal without a message (\(error.code))"] : [])
        }
        do {
            let first = try ControlCodec.encode(message)
            let second = try ControlCodec.encode(try ControlCodec.decode(first))
            guard first.count == second.count, let a = first.first, let b = second.first else {
                return .accepted(["a \(message.type) message changed its parts in a round trip"])
            }
            var violations: [String] = []
            if canonical(a.bytes) != canonical(b.bytes) {
                violations.append("a \(message.type) message changed in a round trip")
            }
            // A re-sent frame's parts are its header (JSON) and its pixels.
            if !zip(first.dropFirst(), second.dropFirst()).allSatisfy({ same($0.bytes, $1.bytes) }) {
                violations.append("a \(message.type) message's binary parts changed in a round trip")
            }
            return .accepted(violations)
        } catch {
            return .accepted(["an accepted \(message.type) message does not survive a round trip: \(error.message)"])
        }
    }

    /// A driver's answer to HELLO, as the daemon takes it: the WELCOME's limits narrow the envelope
    /// of the default policy file, and the raster survey's first decisions are checked against it
    /// and described, as the log and the terminal would show them.
    static func welcome(_ parts: [[UInt8]]) -> FuzzOutcome {
        guard let message = try? ControlCodec.decode(parts), case .welcome(let welcome) = message else {
            return .refused()
        }
        _ = "\(welcome.driver) \(welcome.instrument) \(welcome.session) \(welcome.capabilities)"
        let file = BuiltInPolicies.default
        let envelope = file.envelope.narrowed(to: welcome.limits)
        guard let policy = file.policy.builtIn else { return .accepted(["the default policy is not built in"]) }
        return .accepted(PolicyRun.decisions(of: policy, within: envelope, steps: 3))
    }

    /// Whether two parts are the same bytes, or the same JSON value.
    private static func same(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a == b || (canonical(a) != nil && canonical(a) == canonical(b))
    }

    /// JSON with its keys sorted, so that two encodings of one message compare equal.
    private static func canonical(_ bytes: [UInt8]) -> Data? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) else { return nil }
        return try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }
}
