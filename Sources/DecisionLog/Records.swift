public import Foundation

/// A session as the log records it when it starts.
public struct SessionRecord: Sendable, Hashable {
    /// Unique id (the daemon uses a UUID).
    public var id: String
    /// When it started.
    public var startedAt: Date
    /// The scan policy's name.
    public var policy: String
    /// The policy's version.
    public var policyVersion: String
    /// The policy's parameters, JSON.
    public var policyParameters: String
    /// The detector model's id, if one runs.
    public var model: String?
    /// What the driver announced at HELLO, JSON.
    public var instrument: String
    /// What a replay driver serves (its WELCOME's `replays`: the recorded session's log and id, or
    /// a folder), JSON; nil for a session on an instrument.
    public var replays: String?

    /// A session record.
    public init(
        id: String, startedAt: Date = Date(), policy: String, policyVersion: String, policyParameters: String = "{}",
        model: String? = nil, instrument: String = "{}", replays: String? = nil
    ) {
        self.replays = replays
        self.id = id
        self.startedAt = startedAt
        self.policy = policy
        self.policyVersion = policyVersion
        self.policyParameters = policyParameters
        self.model = model
        self.instrument = instrument
    }
}

/// A received frame.
public struct FrameRecord: Sendable, Hashable {
    /// The session.
    public var sessionID: String
    /// The driver's sequence number.
    public var seq: UInt64
    /// The driver's session the seq belongs to (a restarted driver counts from 0 again).
    public var driverSession: String
    /// The command that produced the frame, if any.
    public var commandID: String?
    /// When it arrived.
    public var receivedAt: Date
    /// Columns.
    public var width: Int
    /// Rows.
    public var height: Int
    /// Pixel size, Å.
    public var pixelSize: Double
    /// The scan as the driver reported it, JSON.
    public var scan: String
    /// Channel names.
    public var channels: [String]
    /// Why it was taken ("survey", "reference", ...), if the driver said.
    public var purpose: String?
    /// The pixels as one blob (logs written before the frames of record were files; new
    /// sessions leave it empty).
    public var pixels: Data?
    /// The frame's files of record by channel, relative to the log's folder, JSON (`--store-pixels`).
    public var pixelsFiles: String?
    /// A small PNG, when kept.
    public var thumbnail: Data?
    /// The stage readback, x, nm.
    public var stageX: Double?
    /// The stage readback, y, nm.
    public var stageY: Double?
    /// The header's optics (beam energy, current, convergence, defocus, ...), JSON as on the wire.
    public var optics: String?
    /// The probe current the dose is reckoned with, pA: the header's, else the deployment's assumed one.
    public var probeCurrent: Double?
    /// The dose the frame delivered, e/Å².
    public var dose: Double?
    /// The electrons it delivered.
    public var electrons: Double?
    /// Where a replayed frame comes from (its header's `source`), nil for a new acquisition.
    public var source: String?

    /// A frame record.
    public init(
        sessionID: String, seq: UInt64, driverSession: String = "", commandID: String? = nil,
        receivedAt: Date = Date(), width: Int, height: Int, pixelSize: Double,
        scan: String, channels: [String], purpose: String? = nil, pixels: Data? = nil, thumbnail: Data? = nil,
        stageX: Double? = nil, stageY: Double? = nil, optics: String? = nil, probeCurrent: Double? = nil,
        dose: Double? = nil,
        electrons: Double? = nil, pixelsFiles: String? = nil, source: String? = nil
    ) {
        self.source = source
        self.pixelsFiles = pixelsFiles
        self.stageX = stageX
        self.stageY = stageY
        self.optics = optics
        self.probeCurrent = probeCurrent
        self.dose = dose
        self.electrons = electrons
        self.sessionID = sessionID
        self.seq = seq
        self.driverSession = driverSession
        self.commandID = commandID
        self.receivedAt = receivedAt
        self.width = width
        self.height = height
        self.pixelSize = pixelSize
        self.scan = scan
        self.channels = channels
        self.purpose = purpose
        self.pixels = pixels
        self.thumbnail = thumbnail
    }
}

/// What a policy was shown before a decision: the policy protocol's observation JSON (its map's
/// visits from `first_visit` on: the earlier ones are in the session's earlier observations).
public struct ObservationRecord: Sendable, Hashable {
    /// The policy's step (0 for its first decision).
    public var step: Int
    /// The observation, JSON.
    public var json: String

    /// An observation record.
    public init(step: Int, json: String) {
        self.step = step
        self.json = json
    }
}

/// A decision and everything it was based on.
public struct DecisionRecord: Sendable, Hashable {
    /// The session.
    public var sessionID: String
    /// When it was made.
    public var madeAt: Date
    /// Row ids of the frames it looked at, JSON array.
    public var inputFrames: String
    /// The candidate actions with their scores, JSON.
    public var candidates: String
    /// The chosen action, JSON.
    public var chosen: String
    /// Why, in words a person reviewing the session can follow.
    public var reason: String
    /// Policy name.
    public var policy: String
    /// Policy version.
    public var policyVersion: String
    /// Policy parameters, JSON.
    public var policyParameters: String
    /// The detector model's id, if one ran.
    public var modelVersion: String?
    /// Milliseconds per stage (decode, drift, detect, segment, policy), JSON object.
    public var latency: String
    /// What the policy was shown (the policy protocol's observation JSON) and its step; nil for
    /// the daemon's own decisions and for endings by a stop condition.
    public var observation: ObservationRecord?

    /// A decision record.
    public init(
        sessionID: String, madeAt: Date = Date(), inputFrames: String, candidates: String, chosen: String,
        reason: String, policy: String, policyVersion: String, policyParameters: String = "{}",
        modelVersion: String? = nil, latency: String = "{}", observation: ObservationRecord? = nil
    ) {
        self.observation = observation
        self.sessionID = sessionID
        self.madeAt = madeAt
        self.inputFrames = inputFrames
        self.candidates = candidates
        self.chosen = chosen
        self.reason = reason
        self.policy = policy
        self.policyVersion = policyVersion
        self.policyParameters = policyParameters
        self.modelVersion = modelVersion
        self.latency = latency
    }
}
