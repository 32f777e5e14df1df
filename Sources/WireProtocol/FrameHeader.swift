/// The JSON header of a frame: everything about a frame except its pixels.
///
/// See `docs/PROTOCOL.md`, "Frame feed", for the field list with units and a worked example.
public struct FrameHeader: Sendable, Hashable, Codable {
    /// Why a frame was acquired.
    public enum Purpose: String, Sendable, Hashable, Codable {
        /// An ordinary frame, scanned for analysis.
        case scan
        /// A reference frame requested with `acquire_reference`, for condition estimation.
        case reference
    }

    /// Wall-clock acquisition times, seconds since the Unix epoch.
    public struct AcquisitionTime: Sendable, Hashable, Codable {
        /// When the first pixel was acquired.
        public var start: Double
        /// When the last pixel was acquired.
        public var end: Double

        /// Creates an acquisition time.
        public init(start: Double, end: Double) {
            self.start = start
            self.end = end
        }
    }

    /// The protocol version the sender speaks.
    public var protocolVersion: ProtocolVersion
    /// The driver's session id; a new one after every driver restart.
    public var session: String
    /// Monotonic frame number within the driver session, from 0.
    public var seq: UInt64
    /// Acquisition times.
    public var time: AcquisitionTime
    /// The scan that produced the frame.
    public var scan: ScanGeometry
    /// Stage readback at acquisition.
    public var stage: StagePosition
    /// Detector name of each pixel part, in part order.
    public var channels: [String]
    /// Element type of every pixel part.
    public var dtype: PixelType
    /// `[rows, columns]` of every pixel part; equals `[scan.height, scan.width]`.
    public var shape: [Int]
    /// The command that caused this frame, if any.
    public var commandID: CommandID?
    /// Why the frame was acquired; `scan` when absent.
    public var purpose: Purpose?
    /// True when this is a copy sent again in answer to `resend_frames`.
    public var resent: Bool?
    /// The optical state at acquisition, when known.
    public var optics: Optics?
    /// Where a replayed frame comes from, e.g. `session S, driver session D, seq 12` or a file's
    /// path (protocol 1.2); absent for frames the instrument just acquired.
    public var source: String?

    /// Creates a header; `shape` is taken from the scan geometry.
    public init(
        session: String, seq: UInt64, time: AcquisitionTime, scan: ScanGeometry, stage: StagePosition,
        channels: [String], dtype: PixelType, commandID: CommandID? = nil, purpose: Purpose? = nil,
        resent: Bool? = nil, optics: Optics? = nil, source: String? = nil,
        protocolVersion: ProtocolVersion = .current
    ) {
        self.protocolVersion = protocolVersion
        self.session = session
        self.seq = seq
        self.time = time
        self.scan = scan
        self.stage = stage
        self.channels = channels
        self.dtype = dtype
        self.shape = [scan.height, scan.width]
        self.commandID = commandID
        self.purpose = purpose
        self.resent = resent
        self.optics = optics
        self.source = source
    }

    enum CodingKeys: String, CodingKey {
        case protocolVersion = "protocol", session, seq, time, scan, stage, channels, dtype, shape
        case commandID = "command_id", purpose, resent, optics, source
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        protocolVersion = try c.decode(ProtocolVersion.self, forKey: .protocolVersion)
        session = try c.decode(String.self, forKey: .session)
        seq = try c.decodeWhole(UInt64.self, forKey: .seq)
        time = try c.decode(AcquisitionTime.self, forKey: .time)
        scan = try c.decode(ScanGeometry.self, forKey: .scan)
        stage = try c.decode(StagePosition.self, forKey: .stage)
        channels = try c.decode([String].self, forKey: .channels)
        dtype = try c.decode(PixelType.self, forKey: .dtype)
        shape = try c.decodeWholeArray(Int.self, forKey: .shape)
        commandID = try c.decodeIfPresent(CommandID.self, forKey: .commandID)
        purpose = try c.decodeIfPresent(Purpose.self, forKey: .purpose)
        resent = try c.decodeIfPresent(Bool.self, forKey: .resent)
        optics = try c.decodeIfPresent(Optics.self, forKey: .optics)
        source = try c.decodeIfPresent(String.self, forKey: .source)
    }

    /// Checks every field's range and the consistency between fields.
    func validate() throws(ProtocolError) {
        let check = FieldChecker(what: "frame header")
        try check.name(session, "session")
        try check.finite(time.start, "time.start")
        try check.finite(time.end, "time.end")
        guard time.end >= time.start else {
            throw check.fail("time.end", "(\(time.end)) must not be before time.start (\(time.start))")
        }
        try scan.validate(check, at: "scan")
        try stage.validate(check, at: "stage")
        try check.within(channels.count, 1...16, "channels (count)")
        for (index, name) in channels.enumerated() { try check.name(name, "channels[\(index)]") }
        guard Set(channels).count == channels.count else {
            throw check.fail("channels", "must not repeat a name, got \(channels)")
        }
        guard shape.count == 2 else {
            throw check.fail("shape", "must be [rows, columns], got \(shape)")
        }
        guard shape == [scan.height, scan.width] else {
            throw check.fail(
                "shape", "\(shape) does not match scan.height x scan.width = [\(scan.height), \(scan.width)]")
        }
        if let commandID { try check.name(commandID.rawValue, "command_id") }
        if let optics { try optics.validate(check, at: "optics") }
        if let source { try check.text(source, "source") }
    }
}

extension ProtocolVersion: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let version = ProtocolVersion(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "is '\(text)', not of the form MAJOR.MINOR"))
        }
        self = version
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
