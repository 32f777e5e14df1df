public import ChildProcess
import Foundation
public import PolicyKit
public import Transport
import WireProtocol

/// What went wrong with an external policy process, in words for the log (with the policy's own
/// traceback when it sent one).
public struct ExternalPolicyError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure.
    public enum Kind: String, Sendable {
        /// The process could not be started, or said nothing in time.
        case start
        /// The policy reported an error (import, parameters, an exception in `decide`).
        case policy
        /// No decision within the deadline.
        case deadline
        /// The process exited.
        case exited
        /// It sent something the protocol does not allow.
        case invalid
    }

    /// What kind of failure.
    public let kind: Kind
    /// What happened.
    public let message: String
    /// The policy's traceback, when it sent one (at most 4,000 characters).
    public let traceback: String?

    /// An error of `kind`.
    public init(kind: Kind, message: String, traceback: String?) {
        self.kind = kind
        self.message = message
        self.traceback = traceback
    }

    public var description: String {
        traceback.map { "\(message)\n\($0)" } ?? message
    }
}

/// The daemon's end of the policy protocol (docs/POLICY_PROTOCOL.md): starts the policy process,
/// introduces it, asks it for decisions with a deadline each, and ends it.
public actor ExternalPolicyHost {
    /// What the policy said about itself in `ready`.
    public struct Identity: Sendable {
        /// Its name, logged with every decision.
        public let name: String
        /// Its version.
        public let version: String
        /// The parameters in force, as JSON.
        public let parametersJSON: String
        /// Whether it waits for the analysis of its previous frame.
        public let waitsForAnalysis: Bool
        /// The arrays it asked for.
        public let wants: [String]
    }

    private let socket: ZMQSocket
    private let process: ChildProcess
    private let spec: ExternalPolicySpec
    private var peer: [UInt8] = []
    private var asked = 0
    /// The map's visits the policy process has.
    private var visits = VisitCursor()
    /// What the policy said about itself.
    public private(set) var identity: Identity?

    /// Binds a ROUTER on loopback and starts the policy process; ``start(session:envelope:)``
    /// introduces it.
    public init(_ spec: ExternalPolicySpec, context: ZMQContext) async throws(ExternalPolicyError) {
        self.spec = spec
        do {
            var options = SocketOptions()
            options.maxMessageSize = 1 << 20
            let socket = try ZMQSocket(.router, context: context, options: options, name: "policy-host")
            let endpoint = try await socket.bind(try Endpoint("tcp://127.0.0.1:*"))
            self.socket = socket
            do {
                process = try await ChildProcess(
                    spec.executable, spec.arguments, variables: ["SCOPEPILOT_POLICY_ENDPOINT": endpoint.text])
            } catch {
                await socket.close()
                throw error
            }
        } catch {
            throw ExternalPolicyError(
                kind: .start, message: "could not start the policy process \(spec.executable.path): \(error)",
                traceback: nil)
        }
    }

    /// Waits for `hello`, sends `setup`, waits for `ready`; returns what the policy said about
    /// itself.
    public func start(session: String, envelope: SafetyEnvelope) async throws(ExternalPolicyError) -> Identity {
        let started = ContinuousClock.now + spec.startTimeout
        let hello = try await receive(until: started, what: "hello")
        guard hello["type"] as? String == "hello" else {
            throw invalid("the policy process's first message must be hello, not \(hello["type"] ?? "nothing")")
        }
        let parameters = (try? JSONSerialization.jsonObject(with: spec.parametersJSON)) ?? [String: Any]()
        try await send([
            "type": "setup", "session": session, "script": spec.script, "class": spec.className,
            "parameters": parameters, "envelope": PolicyWire.envelope(envelope),
            "deadline_ms": spec.deadline.wholeMilliseconds,
        ])
        let ready = try await receive(until: started, what: "ready")
        if ready["type"] as? String == "error" { throw Self.policyFailure(ready, while: "starting") }
        guard ready["type"] as? String == "ready" else {
            throw invalid("expected ready, got \(ready["type"] ?? "nothing")")
        }
        let parametersJSON =
            ready["parameters"].flatMap { try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]) }
            .map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        let identity = Identity(
            name: String((ready["name"] as? String ?? "python-policy").prefix(200)),
            version: String((ready["version"] as? String ?? "0").prefix(200)),
            parametersJSON: String(parametersJSON.prefix(2000)),
            waitsForAnalysis: ready["waits_for_analysis"] as? Bool ?? true,
            wants: (ready["wants"] as? [String]) ?? ["thumbnail"])
        self.identity = identity
        return identity
    }

    /// Shows the policy `observation` (with the thumbnail, when the policy wants it, and `arrays`)
    /// and returns its decision, or why there is none.
    public func decide(
        _ observation: Observation, arrays extra: [PolicyArray] = []
    ) async throws(ExternalPolicyError) -> PolicyDecision {
        let id = "o-\(asked)"
        asked += 1
        var arrays = extra
        if identity?.wants.contains("thumbnail") ?? true, let thumbnail = observation.thumbnail {
            arrays.insert(
                .image("thumbnail", width: thumbnail.width, height: thumbnail.height, pixels: thumbnail.pixels), at: 0)
        }
        var wire = PolicyWire.observation(observation, visitsFrom: visits.start(of: observation.map.visits))
        visits.received(observation.map.visits)
        for array in arrays { wire.merge(array.observationFields) { $1 } }
        try await send(
            ["type": "observe", "id": id, "observation": wire, "arrays": arrays.map(\.description)],
            parts: arrays.map(\.bytes))
        let until = ContinuousClock.now + spec.deadline
        while true {
            let (message, json) = try await receiveRaw(until: until, what: "a decision")
            switch message["type"] as? String {
            case "decision" where message["id"] as? String == id:
                do {
                    return try PolicyWire.decision(from: json)
                } catch {
                    throw invalid("the policy's decision cannot be used: \(error)")
                }
            case "decision":
                continue  // the answer to an observation already given up on
            case "error":
                throw Self.policyFailure(message, while: "deciding")
            default:
                throw invalid("expected a decision, got \(Self.bounded(message["type"]))")
            }
        }
    }

    /// Tells the policy the session is over and ends the process (within its grace).
    public func stop(reason: String) async -> ChildProcess.Exit {
        if process.isRunning, !peer.isEmpty {
            try? await send(["type": "end", "reason": reason])
        }
        let exit = await process.waitForExit(timeout: .seconds(2))
        let ended: ChildProcess.Exit
        if let exit { ended = exit } else { ended = await process.terminate() }
        await socket.close()
        return ended
    }

    /// What the policy process wrote on stderr (its last 2,000 characters).
    public nonisolated var standardError: String { String(process.standardError.suffix(2000)) }

    // MARK: - The socket

    private func send(_ message: [String: Any], parts: [[UInt8]] = []) async throws(ExternalPolicyError) {
        var envelope = message
        envelope["protocol"] = PolicyWire.version
        // The fast writer takes the daemon's own values; what came from JSON (the file's parameters,
        // Foundation's numbers) goes through JSONSerialization, once per session.
        guard
            let json = JSONWriter.data(envelope)
                ?? (try? JSONSerialization.data(withJSONObject: envelope, options: [.sortedKeys])).map(Array.init)
        else {
            throw invalid("the daemon could not write its own message (a bug): \(message["type"] ?? "?")")
        }
        do {
            try await socket.send([peer, json] + parts, timeout: spec.deadline)
        } catch {
            throw ExternalPolicyError(
                kind: .exited, message: "the policy process cannot be reached: \(error)", traceback: nil)
        }
    }

    private func receive(
        until deadline: ContinuousClock.Instant, what: String
    ) async throws(ExternalPolicyError)
        -> [String: Any]
    {
        try await receiveRaw(until: deadline, what: what).0
    }

    /// The next message's envelope, waiting in short slices so that an exited process is noticed.
    private func receiveRaw(
        until deadline: ContinuousClock.Instant, what: String
    ) async throws(ExternalPolicyError)
        -> ([String: Any], Data)
    {
        while true {
            let now = ContinuousClock.now
            guard now < deadline else {
                let starting = peer.isEmpty
                let allowed = Self.seconds(starting ? spec.startTimeout : spec.deadline)
                let key = starting ? "start_timeout_s" : "deadline_s"
                throw ExternalPolicyError(
                    kind: starting ? .start : .deadline,
                    message: "the policy sent no \(what) within \(allowed) (the policy file's \(key) allows more)",
                    traceback: nil)
            }
            let parts: [ReceivedPart]
            do {
                parts = try await socket.receive(timeout: min(deadline - now, .milliseconds(200)))
            } catch let error where error.code == .timedOut {
                if let exit = process.exit {
                    let missing =
                        standardError.contains("No module named 'scopepilot'")
                        ? "; \(spec.executable.path) has no scopepilot package: install it into that Python with "
                            + "`\(spec.executable.path) -m pip install ./python` from the ScopePilot checkout, or name "
                            + "another Python in the policy file's python: or in SCOPEPILOT_PYTHON" : ""
                    throw ExternalPolicyError(
                        kind: .exited, message: "the policy process ended (\(exit)) before it sent \(what)\(missing)",
                        traceback: standardError.isEmpty ? nil : standardError)
                }
                continue
            } catch {
                throw ExternalPolicyError(
                    kind: .exited, message: "the policy's socket failed: \(error)", traceback: nil)
            }
            guard parts.count >= 2 else { throw invalid("a message without its JSON part") }
            peer = parts[0].bytes
            let json = Data(parts[1].bytes)
            guard let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else {
                throw invalid("a message that is not a JSON object")
            }
            if let version = object["protocol"] as? String, version.split(separator: ".").first != "1" {
                throw invalid(
                    "the policy speaks protocol \(version.prefix(20)); this daemon speaks \(PolicyWire.version)")
            }
            return (object, json)
        }
    }

    /// The policy's own `error` message as an error, with its traceback.
    static func policyFailure(_ message: [String: Any], while doing: String) -> ExternalPolicyError {
        ExternalPolicyError(
            kind: .policy, message: "the policy failed while \(doing): \(bounded(message["message"] as? String))",
            traceback: (message["traceback"] as? String).map { String($0.suffix(4000)) })
    }

    private func invalid(_ message: String) -> ExternalPolicyError {
        ExternalPolicyError(kind: .invalid, message: message, traceback: nil)
    }

    static func bounded(_ value: Any?) -> String { String(String(describing: value ?? "nothing").prefix(2000)) }

    static func seconds(_ duration: Duration) -> String {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return seconds == seconds.rounded() ? "\(Int(seconds)) s" : String(format: "%.1f s", seconds)
    }
}
