/// What the instrument reports back: where it actually is and what it actually did. Every field
/// is optional; DONE of `move_stage` carries `stage`, DONE of `scan_region` carries `scan` and
/// `frames`, DONE of `get_state` carries all the driver knows.
public struct Readback: Sendable, Hashable, Codable, Validatable {
    /// Actual stage position.
    public var stage: StagePosition?
    /// Actual scan geometry.
    public var scan: ScanGeometry?
    /// Whether the beam is blanked.
    public var beamBlanked: Bool?
    /// Seq numbers of the frames the command produced (or re-sent).
    public var frames: [UInt64]?
    /// The newest seq the driver has published.
    public var lastSeq: UInt64?
    /// Seq numbers asked for in `resend_frames` that the ring buffer no longer holds.
    public var missing: [UInt64]?
    /// The driver's own word for its state, e.g. `idle`, `scanning`.
    public var state: String?
    /// The driver session `frames`, `last_seq` and `missing` belong to (protocol 1.1).
    public var session: String?
    /// A sentence on how the command was carried out where that differs from what was asked,
    /// e.g. a replay driver's "the recorded frame is 3.2 nm from the requested centre" (protocol 1.2).
    public var note: String?

    /// Creates a readback.
    public init(
        stage: StagePosition? = nil, scan: ScanGeometry? = nil, beamBlanked: Bool? = nil, frames: [UInt64]? = nil,
        lastSeq: UInt64? = nil, missing: [UInt64]? = nil, state: String? = nil, session: String? = nil,
        note: String? = nil
    ) {
        self.stage = stage
        self.scan = scan
        self.beamBlanked = beamBlanked
        self.frames = frames
        self.lastSeq = lastSeq
        self.missing = missing
        self.state = state
        self.session = session
        self.note = note
    }

    enum CodingKeys: String, CodingKey {
        case stage, scan, beamBlanked = "beam_blanked", frames, lastSeq = "last_seq", missing, state, session, note
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        stage = try c.decodeIfPresent(StagePosition.self, forKey: .stage)
        scan = try c.decodeIfPresent(ScanGeometry.self, forKey: .scan)
        beamBlanked = try c.decodeIfPresent(Bool.self, forKey: .beamBlanked)
        frames = try c.decodeWholeArrayIfPresent(UInt64.self, forKey: .frames)
        lastSeq = try c.decodeWholeIfPresent(UInt64.self, forKey: .lastSeq)
        missing = try c.decodeWholeArrayIfPresent(UInt64.self, forKey: .missing)
        state = try c.decodeIfPresent(String.self, forKey: .state)
        session = try c.decodeIfPresent(String.self, forKey: .session)
        note = try c.decodeIfPresent(String.self, forKey: .note)
    }

    func validate(_ check: FieldChecker, at path: String) throws(ProtocolError) {
        try stage?.validate(check, at: path.dot("stage"))
        try scan?.validate(check, at: path.dot("scan"))
        if let state { try check.name(state, path.dot("state")) }
        if let note { try check.text(note, path.dot("note")) }
    }
}

/// Well-known reason codes of REJECT and FAILED. Drivers may send others.
public enum ReasonCode {
    /// The command could not be decoded or is missing fields.
    public static let malformed = "malformed"
    /// The driver does not implement this action.
    public static let unsupported = "unsupported"
    /// A parameter is outside the instrument's limits.
    public static let outOfRange = "out_of_range"
    /// The instrument is busy with a command that cannot run alongside this one.
    public static let busy = "busy"
    /// The peer speaks an incompatible protocol version.
    public static let protocolVersion = "protocol_version"
    /// The command was not done within its deadline.
    public static let deadlineExceeded = "deadline_exceeded"
    /// The command was aborted.
    public static let aborted = "aborted"
    /// The hardware reported an error.
    public static let hardware = "hardware"
    /// The command arrived before a successful HELLO.
    public static let notIntroduced = "no_hello"
    /// The command needs the beam, and it is blanked (e.g. by the driver's watchdog).
    public static let beamBlanked = "beam_blanked"
    /// A replay driver has served every frame of its recording (protocol 1.2); the daemon ends
    /// the session as finished.
    public static let recordingEnded = "recording_ended"
    /// A replay driver has no recorded frame that covers the asked region at the asked scale
    /// (protocol 1.2).
    public static let notRecorded = "not_recorded"
}

/// The driver accepted a command and is carrying it out.
public struct Ack: Sendable, Hashable, Codable {
    /// The command.
    public var id: CommandID
    /// Creates an ACK.
    public init(id: CommandID) { self.id = id }
}

/// The driver refused a command (or a HELLO); nothing was done.
public struct Reject: Sendable, Hashable, Codable {
    /// The refused command, or nil when its id could not be read.
    public var id: CommandID?
    /// A `ReasonCode` or a driver-specific code.
    public var code: String
    /// A sentence for the log.
    public var reason: String

    /// Creates a REJECT.
    public init(id: CommandID?, code: String, reason: String) {
        self.id = id
        self.code = code
        self.reason = reason
    }
}

/// The driver finished a command.
public struct Done: Sendable, Hashable, Codable {
    /// The command.
    public var id: CommandID
    /// What the instrument actually did.
    public var readback: Readback

    /// Creates a DONE.
    public init(id: CommandID, readback: Readback = Readback()) {
        self.id = id
        self.readback = readback
    }
}

/// An accepted command did not complete.
public struct Failed: Sendable, Hashable, Codable {
    /// The command.
    public var id: CommandID
    /// A `ReasonCode` or a driver-specific code.
    public var code: String
    /// A sentence for the log.
    public var reason: String
    /// Where the instrument is now, when known.
    public var readback: Readback?

    /// Creates a FAILED.
    public init(id: CommandID, code: String, reason: String, readback: Readback? = nil) {
        self.id = id
        self.code = code
        self.reason = reason
        self.readback = readback
    }
}

/// "I am alive", sent both ways every heartbeat interval.
public struct Heartbeat: Sendable, Hashable, Codable {
    /// Sender's wall clock, seconds since the Unix epoch.
    public var sentAt: Double
    /// From the driver: the newest seq it has published.
    public var lastSeq: UInt64?
    /// From the driver (protocol 1.1): its session, so that a daemon notices a restart at once.
    public var session: String?

    /// Creates a heartbeat.
    public init(sentAt: Double, lastSeq: UInt64? = nil, session: String? = nil) {
        self.sentAt = sentAt
        self.lastSeq = lastSeq
        self.session = session
    }

    enum CodingKeys: String, CodingKey { case sentAt = "sent_at", lastSeq = "last_seq", session }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        sentAt = try c.decode(Double.self, forKey: .sentAt)
        lastSeq = try c.decodeWholeIfPresent(UInt64.self, forKey: .lastSeq)
        session = try c.decodeIfPresent(String.self, forKey: .session)
    }
}

/// A reply to a message that could not be decoded at all (so there is no id to REJECT).
public struct ErrorReport: Sendable, Hashable, Codable {
    /// A `ProtocolError.Code` description or a driver-specific code.
    public var code: String
    /// A sentence for the log.
    public var reason: String

    /// Creates an error report.
    public init(code: String, reason: String) {
        self.code = code
        self.reason = reason
    }
}
