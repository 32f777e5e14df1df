import Foundation
public import WireProtocol

/// What a replay driver serves: recorded frames in the order they were acquired, the instrument
/// they came from and its limits.
public struct Recording: Sendable {
    /// The frames, in recorded order.
    public var frames: [RecordedFrame]
    /// What the recording is: a session of a log, or a folder (its `mode` is the driver's).
    public var origin: ReplayOrigin
    /// The instrument the frames came from, as its driver named it (or the folder).
    public var instrument: String
    /// The limits the driver announces: the recorded instrument's, or those the frames span.
    public var limits: InstrumentLimits
    /// Whether every frame's stage position is known (a folder without positions has none): the
    /// `region` mode needs them.
    public var positioned: Bool
    /// Frames or files that could not be used, each with why.
    public var skipped: [String]

    /// Creates a recording.
    public init(
        frames: [RecordedFrame], origin: ReplayOrigin, instrument: String, limits: InstrumentLimits,
        positioned: Bool = true, skipped: [String] = []
    ) {
        self.frames = frames
        self.origin = origin
        self.instrument = instrument
        self.limits = limits
        self.positioned = positioned
        self.skipped = skipped
    }

    /// Limits that admit every frame of `frames`: their stage span with `margin` nm around it,
    /// fields of view and frame sides up to the largest recorded, and their channels.
    static func limits(spanning frames: [RecordedFrame], margin: Double = 1000) -> InstrumentLimits {
        let xs = frames.map(\.scan.centerX)
        let ys = frames.map(\.scan.centerY)
        let fovs = frames.map { max($0.scan.fovX, $0.scan.fovY) }
        let sides = frames.map { max($0.scan.width, $0.scan.height) }
        var detectors: [String] = []
        for name in frames.flatMap(\.channels) where !detectors.contains(name) { detectors.append(name) }
        return InstrumentLimits(
            stageX: ((xs.min() ?? 0) - margin)...((xs.max() ?? 0) + margin),
            stageY: ((ys.min() ?? 0) - margin)...((ys.max() ?? 0) + margin),
            fov: min(1, fovs.min() ?? 1)...max(1, fovs.max() ?? 1), dwell: 0.01...10_000,
            pixels: min(16, sides.min() ?? 16)...max(16, sides.max() ?? 16), detectors: detectors)
    }
}
