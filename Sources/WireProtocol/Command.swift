/// A request from the daemon to the instrument. The driver answers ACK or REJECT, then, for an
/// accepted command, DONE or FAILED.
public struct Command: Sendable, Hashable {
    /// Idempotent id, unique within the daemon's session.
    public var id: CommandID
    /// Time budget from the driver's receipt of the command to DONE; past it the driver answers
    /// FAILED with code `deadline_exceeded`. Whole milliseconds on the wire.
    public var deadline: Duration
    /// What to do.
    public var action: CommandAction

    /// Creates a command.
    public init(id: CommandID, deadline: Duration, action: CommandAction) {
        self.id = id
        self.deadline = deadline
        self.action = action
    }

    /// The deadline in whole milliseconds, as sent.
    public var deadlineMilliseconds: Int { deadline.wholeMilliseconds }
}

/// What a command asks the instrument to do.
public enum CommandAction: Sendable, Hashable {
    /// Scan a region and publish the frame(s) on the feed.
    case scanRegion(ScanRequest)
    /// Move the stage to an absolute position.
    case moveStage(StagePosition)
    /// Acquire reference frames (published with `purpose: reference`) for condition estimation.
    case acquireReference(ReferenceRequest)
    /// Blank the beam.
    case blankBeam
    /// Unblank the beam.
    case unblankBeam
    /// Report the instrument's state in the DONE readback.
    case getState
    /// Send frames `from...to` again from the driver's ring buffer, over the command channel; of
    /// driver session `session` when given (1.1: frames of another session are answered missing).
    case resendFrames(from: UInt64, to: UInt64, session: String? = nil)
    /// Abort the command with the given id, or every running command when nil.
    case abort(CommandID?)

    /// The action's name on the wire, e.g. `scan_region`.
    public var name: String {
        switch self {
        case .scanRegion: "scan_region"
        case .moveStage: "move_stage"
        case .acquireReference: "acquire_reference"
        case .blankBeam: "blank_beam"
        case .unblankBeam: "unblank_beam"
        case .getState: "get_state"
        case .resendFrames: "resend_frames"
        case .abort: "abort"
        }
    }

    /// Every action name this protocol version defines.
    public static let allNames = [
        "scan_region", "move_stage", "acquire_reference", "blank_beam", "unblank_beam", "get_state",
        "resend_frames", "abort",
    ]
}

/// Parameters of `scan_region`: the geometry, and which detectors to read (all when nil).
public struct ScanRequest: Sendable, Hashable, Codable, Validatable {
    /// The region and scan settings.
    public var geometry: ScanGeometry
    /// Detectors to read; nil for every detector the driver has.
    public var channels: [String]?

    /// Creates a scan request.
    public init(geometry: ScanGeometry, channels: [String]? = nil) {
        self.geometry = geometry
        self.channels = channels
    }

    enum CodingKeys: String, CodingKey { case channels }

    public init(from decoder: any Decoder) throws {
        geometry = try ScanGeometry(from: decoder)
        channels = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent([String].self, forKey: .channels)
    }

    public func encode(to encoder: any Encoder) throws {
        try geometry.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(channels, forKey: .channels)
    }

    func validate(_ check: FieldChecker, at path: String) throws(ProtocolError) {
        try geometry.validate(check, at: path)
        if let channels {
            try check.within(channels.count, 1...16, path.dot("channels (count)"))
            for (index, name) in channels.enumerated() { try check.name(name, path.dot("channels[\(index)]")) }
        }
    }
}

/// Parameters of `acquire_reference`: `count` frames with the given geometry.
public struct ReferenceRequest: Sendable, Hashable, Codable, Validatable {
    /// The scan for each reference frame.
    public var scan: ScanRequest
    /// How many frames, 1 to 64.
    public var count: Int

    /// Creates a reference request.
    public init(scan: ScanRequest, count: Int) {
        self.scan = scan
        self.count = count
    }

    enum CodingKeys: String, CodingKey { case count }

    public init(from decoder: any Decoder) throws {
        scan = try ScanRequest(from: decoder)
        count = try decoder.container(keyedBy: CodingKeys.self).decodeWhole(Int.self, forKey: .count)
    }

    public func encode(to encoder: any Encoder) throws {
        try scan.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(count, forKey: .count)
    }

    func validate(_ check: FieldChecker, at path: String) throws(ProtocolError) {
        try scan.validate(check, at: path)
        try check.within(count, 1...64, path.dot("count"))
    }
}
