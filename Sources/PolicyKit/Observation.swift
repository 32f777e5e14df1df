public import WireProtocol

/// What a policy sees when it decides: the newest analysed frame, what was found in it, and the
/// session so far.
public struct Observation: Sendable {
    /// Decisions made before this one.
    public let step: Int
    /// Seconds since the session started.
    public let elapsed: Double
    /// The newest analysed frame; nil before the first.
    public let frame: FrameSummary?
    /// Defects found in that frame, in stage coordinates.
    public let defects: [DefectObservation]
    /// The chip communities in that frame.
    public let communities: [CommunityObservation]
    /// That frame's chips: where each is and which community it belongs to.
    public let chips: [ChipObservation]
    /// The newest drift measurement; nil until two frames overlapped.
    public let drift: DriftEstimate?
    /// How far the frames' conditions are from those the detector was trained for (0: the same;
    /// above about 2: far); nil until measured.
    public let conditionScore: Double?
    /// What became of the newest action whose outcome is known; nil for the first decision.
    public let lastOutcome: ActionOutcome?
    /// Every outcome learnt since the previous decision, oldest first (more than one when the
    /// policy decides ahead, ``ScanPolicy/waitsForAnalysis`` false; none when nothing finished).
    public let outcomes: [ActionOutcome]
    /// Where the newest action that was carried out pointed the beam or the stage, in sample
    /// coordinates, nm; nil before the first. The envelope's ``SafetyEnvelope/maximumStep`` counts
    /// from here.
    public let position: (x: Double, y: Double)?
    /// Everything visited so far.
    public let map: SessionMap
    /// The envelope the daemon enforces: a policy that stays inside is never refused.
    public let envelope: SafetyEnvelope
    /// The detector's retraining, if one was requested this session.
    public let retraining: RetrainingState?
    /// The newest frame's first channel, averaged down to at most 128 pixels a side; nil before
    /// the first frame.
    public let thumbnail: FrameThumbnail?

    /// Creates an observation (the daemon does; a policy's tests may too).
    public init(
        step: Int, elapsed: Double, frame: FrameSummary?, defects: [DefectObservation] = [],
        communities: [CommunityObservation] = [], chips: [ChipObservation] = [], drift: DriftEstimate? = nil,
        conditionScore: Double? = nil, lastOutcome: ActionOutcome? = nil, outcomes: [ActionOutcome]? = nil,
        position: (x: Double, y: Double)? = nil, map: SessionMap, envelope: SafetyEnvelope,
        retraining: RetrainingState? = nil, thumbnail: FrameThumbnail? = nil
    ) {
        self.step = step
        self.elapsed = elapsed
        self.frame = frame
        self.defects = defects
        self.communities = communities
        self.chips = chips
        self.drift = drift
        self.conditionScore = conditionScore
        self.lastOutcome = lastOutcome
        self.outcomes = outcomes ?? lastOutcome.map { [$0] } ?? []
        self.position = position
        self.map = map
        self.envelope = envelope
        self.retraining = retraining
        self.thumbnail = thumbnail
    }
}

/// Where the detector's retraining stands.
public enum RetrainingState: Sendable, Hashable {
    /// Running in the background since `since` seconds into the session.
    case running(since: Double)
    /// Finished: the new model was swapped in when `accepted`; F1 of the old and new model on the
    /// same held-out simulations at the estimated conditions.
    case finished(accepted: Bool, before: Double, after: Double)
    /// Failed, with why.
    case failed(String)
}

/// A frame's metadata.
public struct FrameSummary: Sendable, Hashable {
    /// The feed's sequence number.
    public var seq: UInt64
    /// Where and how it was scanned.
    public var scan: ScanGeometry
    /// The stage's readback during the scan.
    public var stage: StagePosition
    /// Acquisition start, Unix seconds.
    public var time: Double
    /// Survey, reference, ... (nil: an ordinary frame).
    public var purpose: String?
    /// The dose the frame delivered, e/Å² (from the probe current its header reports, or the one
    /// last reported); nil when unknown.
    public var dose: Double?
    /// Each channel's brightness over the whole frame.
    public var channels: [ChannelStatistics]
    /// What the frame's lattice says of its pixel size (nil: not an atomic-resolution frame, or
    /// no lattice in it). When it disagrees with the header, the frame was not analysed for defects.
    public var pixelSize: PixelSizeReading?

    /// Creates a summary.
    public init(
        seq: UInt64, scan: ScanGeometry, stage: StagePosition, time: Double, purpose: String? = nil,
        dose: Double? = nil, channels: [ChannelStatistics] = [], pixelSize: PixelSizeReading? = nil
    ) {
        self.pixelSize = pixelSize
        self.seq = seq
        self.scan = scan
        self.stage = stage
        self.time = time
        self.purpose = purpose
        self.dose = dose
        self.channels = channels
    }
}

/// One detected defect.
public struct DefectObservation: Sendable, Hashable {
    /// Position in stage coordinates, nm.
    public var x: Double
    /// Position in stage coordinates, nm.
    public var y: Double
    /// The defect type, e.g. `se1`.
    public var kind: String
    /// The detector's confidence, 0 ... 1.
    public var confidence: Double

    /// Creates a defect observation.
    public init(x: Double, y: Double, kind: String, confidence: Double) {
        self.x = x
        self.y = y
        self.kind = kind
        self.confidence = confidence
    }
}

/// One community's share of a frame.
public struct CommunityObservation: Sendable, Hashable {
    /// The community's id, stable over the session.
    public var id: Int
    /// Chips of this frame in it.
    public var chips: Int
    /// Their area, nm².
    public var area: Double
    /// Defects detected in them.
    public var defects: Int
    /// The centre of its chips in this frame, sample coordinates, nm (nil when unknown).
    public var x: Double?
    /// The centre of its chips in this frame, sample coordinates, nm.
    public var y: Double?
    /// Each channel's brightness over its chips in this frame.
    public var channels: [ChannelStatistics]
    /// The part of the session its chips are in, when the frame shows the sample's lattice:
    /// "lattice", "defect_rich" (lattice with clearly more defects), "covered" (lattice under
    /// carbon: the second channel raised over the first), "film" (no lattice: amorphous or
    /// damaged material) or "vacuum" (no lattice and next to no signal: a hole). Nil at survey
    /// magnification, where no lattice shows.
    public var part: String?

    /// Creates a community observation.
    public init(
        id: Int, chips: Int, area: Double, defects: Int, x: Double? = nil, y: Double? = nil,
        channels: [ChannelStatistics] = [], part: String? = nil
    ) {
        self.id = id
        self.chips = chips
        self.area = area
        self.defects = defects
        self.x = x
        self.y = y
        self.channels = channels
        self.part = part
    }
}

/// One chip of a frame: a square the segmentation gave a community.
public struct ChipObservation: Sendable, Hashable {
    /// Centre in sample coordinates, nm.
    public var x: Double
    /// Centre in sample coordinates, nm.
    public var y: Double
    /// Side, nm.
    public var size: Double
    /// The community's id, stable over the session.
    public var community: Int
    /// Defects detected in it (nil when the detector did not run on the frame).
    public var defects: Int?
    /// Each channel's brightness over the chip.
    public var channels: [ChannelStatistics]

    /// Creates a chip observation.
    public init(
        x: Double, y: Double, size: Double, community: Int, defects: Int?, channels: [ChannelStatistics] = []
    ) {
        self.x = x
        self.y = y
        self.size = size
        self.community = community
        self.defects = defects
        self.channels = channels
    }
}

/// Drift measured by registering a frame against an earlier overlapping one.
public struct DriftEstimate: Sendable, Hashable {
    /// Displacement of the sample between the two frames beyond what the commands moved, nm.
    public var dx: Double
    /// Displacement along y, nm.
    public var dy: Double
    /// Drift velocity, nm/s (displacement over the time between the frames).
    public var vx: Double
    /// Drift velocity along y, nm/s.
    public var vy: Double
    /// Height of the correlation peak, 0 ... 1 (low: an unreliable match).
    public var peak: Double

    /// Creates a drift estimate.
    public init(dx: Double, dy: Double, vx: Double, vy: Double, peak: Double) {
        self.dx = dx
        self.dy = dy
        self.vx = vx
        self.vy = vy
        self.peak = peak
    }
}

/// What became of an action.
public enum ActionOutcome: Sendable, Hashable {
    /// Carried out.
    case done(PolicyAction)
    /// Sent, but the instrument refused or failed it, with its reason code and words.
    case failed(PolicyAction, code: String, reason: String)
    /// Refused by the daemon (outside the safety envelope, or not possible now); never sent.
    case refused(PolicyAction, reason: String)
}

/// A small picture of a frame: its first channel averaged over square blocks.
public struct FrameThumbnail: Sendable, Hashable {
    /// Columns.
    public var width: Int
    /// Rows (row 0 at the frame's first row: the smallest stage y when the scan is not rotated).
    public var height: Int
    /// The pixels, row by row.
    public var pixels: [Float]

    /// Creates a thumbnail; nil unless `pixels` fills `width` x `height`.
    public init?(width: Int, height: Int, pixels: [Float]) {
        guard width > 0, height > 0, pixels.count == width * height else { return nil }
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}
