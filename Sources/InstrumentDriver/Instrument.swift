public import WireProtocol

/// Who a driver is, as announced in WELCOME.
public struct InstrumentIdentity: Sendable, Hashable {
    /// Driver name and version, e.g. `scopepilot-sim/0.1.0`.
    public var driver: String
    /// The instrument, e.g. a model and serial number.
    public var instrument: String
    /// What a replay driver serves (announced in WELCOME); nil for an instrument.
    public var replays: ReplayOrigin?

    /// Creates an identity.
    public init(driver: String, instrument: String, replays: ReplayOrigin? = nil) {
        self.driver = driver
        self.instrument = instrument
        self.replays = replays
    }
}

/// A frame as the hardware produced it, before the runtime numbers and publishes it.
public struct AcquiredFrame: Sendable {
    /// The scan actually performed (it may differ from the request, e.g. rounded dwell).
    public var scan: ScanGeometry
    /// Stage readback during acquisition.
    public var stage: StagePosition
    /// Detector names, one per buffer.
    public var channels: [String]
    /// The pixels, one buffer per channel.
    public var buffers: [PixelBuffer]
    /// Acquisition times, Unix seconds.
    public var time: FrameHeader.AcquisitionTime
    /// Optics at acquisition, when known.
    public var optics: Optics?
    /// The instrument's own number for this acquisition, handed back in
    /// ``Instrument/published(_:seq:session:)``.
    public var tag: UInt64?
    /// Where a replayed frame comes from (the frame header's `source`); nil for a new acquisition.
    public var source: String?
    /// How the frame differs from what was asked, in a sentence (the DONE readback's `note`).
    public var note: String?

    /// Creates an acquired frame.
    public init(
        scan: ScanGeometry, stage: StagePosition, channels: [String], buffers: [PixelBuffer],
        time: FrameHeader.AcquisitionTime, optics: Optics? = nil, tag: UInt64? = nil, source: String? = nil,
        note: String? = nil
    ) {
        self.tag = tag
        self.source = source
        self.note = note
        self.scan = scan
        self.stage = stage
        self.channels = channels
        self.buffers = buffers
        self.time = time
        self.optics = optics
    }
}

/// What the instrument reports in `get_state`.
public struct InstrumentState: Sendable, Hashable {
    /// Stage position.
    public var stage: StagePosition
    /// Whether the beam is blanked.
    public var beamBlanked: Bool
    /// Optics, when known.
    public var optics: Optics?

    /// Creates a state.
    public init(stage: StagePosition, beamBlanked: Bool, optics: Optics? = nil) {
        self.stage = stage
        self.beamBlanked = beamBlanked
        self.optics = optics
    }
}

/// A failure the hardware reports; becomes FAILED with this code and reason.
public struct InstrumentError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A `ReasonCode` or an instrument-specific code.
    public var code: String
    /// A sentence for the log.
    public var reason: String

    /// Creates an error.
    public init(code: String = ReasonCode.hardware, reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { "\(code): \(reason)" }
}

/// The hardware behind a driver: what a driver adapter for a real microscope implements.
///
/// ``DriverRuntime`` does the protocol (HELLO, ids, ACK/DONE, deadlines, resend, heartbeats, the
/// watchdog); an `Instrument` only moves, scans and blanks. Calls come one at a time, except
/// ``setBeamBlanked(_:)`` and ``state()``, which may come while a scan runs. A long call should
/// check `Task.isCancelled`: the runtime cancels it on `abort` or when its deadline passes.
public protocol Instrument: Sendable {
    /// Name and version of driver and instrument.
    var identity: InstrumentIdentity { get }
    /// Physical limits, announced at HELLO and checked before every command.
    var limits: InstrumentLimits { get }
    /// Scans `request` and returns the frame; `purpose` is `reference` for reference frames.
    func acquire(_ request: ScanRequest, purpose: FrameHeader.Purpose) async throws -> AcquiredFrame
    /// Moves the stage and returns where it actually went.
    func moveStage(to position: StagePosition) async throws -> StagePosition
    /// Blanks or unblanks the beam.
    func setBeamBlanked(_ blanked: Bool) async throws
    /// The current state.
    func state() async -> InstrumentState
    /// Called after a frame was published under `seq` (e.g. to file its ground truth). Optional.
    func published(_ frame: AcquiredFrame, seq: UInt64, session: String) async
}

extension Instrument {
    public func published(_ frame: AcquiredFrame, seq: UInt64, session: String) async {}
}
