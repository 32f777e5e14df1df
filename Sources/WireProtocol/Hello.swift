/// The daemon's first message on the command channel.
public struct Hello: Sendable, Hashable, Codable {
    /// Id of this HELLO; the WELCOME or REJECT repeats it.
    public var id: CommandID
    /// Who is calling, e.g. `scopepilot/0.1.0`.
    public var client: String
    /// How often the daemon will send heartbeats, ms.
    public var heartbeatMilliseconds: Int

    /// Creates a HELLO.
    public init(id: CommandID, client: String, heartbeatMilliseconds: Int = 1000) {
        self.id = id
        self.client = client
        self.heartbeatMilliseconds = heartbeatMilliseconds
    }

    enum CodingKeys: String, CodingKey { case id, client, heartbeatMilliseconds = "heartbeat_ms" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(CommandID.self, forKey: .id)
        client = try c.decode(String.self, forKey: .client)
        heartbeatMilliseconds = try c.decodeWhole(Int.self, forKey: .heartbeatMilliseconds)
    }
}

/// The driver's answer to HELLO: who it is, what it can do and within which limits.
public struct Welcome: Sendable, Hashable, Codable {
    /// The HELLO's id.
    public var id: CommandID
    /// Driver name and version, e.g. `scopepilot-sim/0.1.0`.
    public var driver: String
    /// The instrument, e.g. `virtual WSe2 microscope` or a serial number.
    public var instrument: String
    /// The driver session id, the same as in frame headers.
    public var session: String
    /// Action names the driver implements (see `CommandAction.allNames`).
    public var capabilities: [String]
    /// The instrument's limits.
    public var limits: InstrumentLimits
    /// How often the driver sends heartbeats, ms.
    public var heartbeatMilliseconds: Int
    /// The driver blanks the beam when it hears nothing from the daemon for this long, ms.
    public var watchdogMilliseconds: Int
    /// What a replay driver serves instead of a live instrument (protocol 1.2); absent for an instrument.
    public var replays: ReplayOrigin?

    /// Creates a WELCOME.
    public init(
        id: CommandID, driver: String, instrument: String, session: String, capabilities: [String],
        limits: InstrumentLimits, heartbeatMilliseconds: Int = 1000, watchdogMilliseconds: Int = 5000,
        replays: ReplayOrigin? = nil
    ) {
        self.id = id
        self.driver = driver
        self.instrument = instrument
        self.session = session
        self.capabilities = capabilities
        self.limits = limits
        self.heartbeatMilliseconds = heartbeatMilliseconds
        self.watchdogMilliseconds = watchdogMilliseconds
        self.replays = replays
    }

    enum CodingKeys: String, CodingKey {
        case id, driver, instrument, session, capabilities, limits
        case heartbeatMilliseconds = "heartbeat_ms", watchdogMilliseconds = "watchdog_ms", replays
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(CommandID.self, forKey: .id)
        driver = try c.decode(String.self, forKey: .driver)
        instrument = try c.decode(String.self, forKey: .instrument)
        session = try c.decode(String.self, forKey: .session)
        capabilities = try c.decode([String].self, forKey: .capabilities)
        limits = try c.decode(InstrumentLimits.self, forKey: .limits)
        heartbeatMilliseconds = try c.decodeWhole(Int.self, forKey: .heartbeatMilliseconds)
        watchdogMilliseconds = try c.decodeWhole(Int.self, forKey: .watchdogMilliseconds)
        replays = try c.decodeIfPresent(ReplayOrigin.self, forKey: .replays)
    }
}

/// What the instrument can physically do. The daemon enforces its own, tighter, safety envelope
/// inside these.
public struct InstrumentLimits: Sendable, Hashable, Codable, Validatable {
    /// Stage x range, nm.
    public var stageX: ClosedRange<Double>
    /// Stage y range, nm.
    public var stageY: ClosedRange<Double>
    /// Field-of-view range, nm.
    public var fov: ClosedRange<Double>
    /// Dwell range, us.
    public var dwell: ClosedRange<Double>
    /// Frame side range, pixels.
    public var pixels: ClosedRange<Int>
    /// Detector names.
    public var detectors: [String]

    /// Creates limits.
    public init(
        stageX: ClosedRange<Double>, stageY: ClosedRange<Double>, fov: ClosedRange<Double>,
        dwell: ClosedRange<Double>, pixels: ClosedRange<Int>, detectors: [String]
    ) {
        self.stageX = stageX
        self.stageY = stageY
        self.fov = fov
        self.dwell = dwell
        self.pixels = pixels
        self.detectors = detectors
    }

    enum CodingKeys: String, CodingKey {
        case stageX = "stage_x_nm", stageY = "stage_y_nm", fov = "fov_nm", dwell = "dwell_us", pixels, detectors
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        stageX = try Self.range(c, .stageX, try c.decode([Double].self, forKey: .stageX))
        stageY = try Self.range(c, .stageY, try c.decode([Double].self, forKey: .stageY))
        fov = try Self.range(c, .fov, try c.decode([Double].self, forKey: .fov))
        dwell = try Self.range(c, .dwell, try c.decode([Double].self, forKey: .dwell))
        pixels = try Self.range(c, .pixels, try c.decodeWholeArray(Int.self, forKey: .pixels))
        detectors = try c.decode([String].self, forKey: .detectors)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode([stageX.lowerBound, stageX.upperBound], forKey: .stageX)
        try c.encode([stageY.lowerBound, stageY.upperBound], forKey: .stageY)
        try c.encode([fov.lowerBound, fov.upperBound], forKey: .fov)
        try c.encode([dwell.lowerBound, dwell.upperBound], forKey: .dwell)
        try c.encode([pixels.lowerBound, pixels.upperBound], forKey: .pixels)
        try c.encode(detectors, forKey: .detectors)
    }

    /// Reads `[min, max]`.
    private static func range<T: Comparable>(
        _ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys, _ pair: [T]
    ) throws -> ClosedRange<T> {
        guard pair.count == 2, pair[0] <= pair[1] else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: c.codingPath + [key],
                    debugDescription: "must be [min, max] with min <= max, got \(pair)"))
        }
        return pair[0]...pair[1]
    }

    func validate(_ check: FieldChecker, at path: String) throws(ProtocolError) {
        for (name, range) in [("stage_x_nm", stageX), ("stage_y_nm", stageY)] {
            try check.finite(range.lowerBound, path.dot(name))
            try check.finite(range.upperBound, path.dot(name))
        }
        try check.positive(fov.lowerBound, path.dot("fov_nm"))
        try check.finite(fov.upperBound, path.dot("fov_nm"))
        try check.positive(dwell.lowerBound, path.dot("dwell_us"))
        try check.finite(dwell.upperBound, path.dot("dwell_us"))
        try check.within(pixels.lowerBound, 1...ScanGeometry.maxPixels, path.dot("pixels"))
        try check.within(pixels.upperBound, 1...ScanGeometry.maxPixels, path.dot("pixels"))
        try check.within(detectors.count, 1...16, path.dot("detectors (count)"))
        for (index, name) in detectors.enumerated() { try check.name(name, path.dot("detectors[\(index)]")) }
    }
}
