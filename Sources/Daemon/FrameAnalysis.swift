public import DecisionLog
public import PolicyKit
public import WireProtocol

/// What analysis made of one frame: the inputs a decision is based on.
public struct FrameAnalysis: Sendable {
    /// Which frame.
    public var key: FrameKey
    /// The command that produced it.
    public var commandID: CommandID?
    /// The frame's metadata.
    public var frame: FrameSummary
    /// Defects in stage coordinates (for policies).
    public var defects: [DefectObservation]
    /// The same defects in the frame's pixels (for the log).
    public var detections: [AnalysisRecord.Detection]
    /// Community id per chip of the frame's chip grid (empty when not segmented).
    public var chipCommunities: [Int]
    /// Per-community summary of the frame.
    public var communities: [CommunityObservation]
    /// The frame's chips, in stage coordinates of the command (the runner moves them to the sample's).
    public var chips: [ChipObservation] = []
    /// Drift against an earlier overlapping frame.
    public var drift: DriftMeasurement?
    /// The condition monitor's reading.
    public var condition: ConditionMonitor.Reading?
    /// Whether the detector ran (it runs only near its training pixel size).
    public var detectorRan: Bool
    /// The model that ran (nil when it did not).
    public var modelID: String? = nil
    /// Milliseconds per stage: decode, drift, condition, detect, segment.
    public var timings: [String: Double]
    /// Problems that left a stage out (e.g. a registration that failed), in words.
    public var problems: [String]
}
