public import ImageNumerics
public import PolicyKit
public import Segmentation
public import WireProtocol

/// What analysis made of one frame: the inputs a decision is based on and what the log keeps.
public struct FrameAnalysis: Sendable {
    /// Which frame.
    public var key: FrameKey
    /// The frame's header (its scan, stage readback, optics, the command that caused it).
    public var header: FrameHeader
    /// When the frame entered the daemon.
    public var receivedAt: ContinuousClock.Instant
    /// Defects found, in the frame's pixels and on the stage.
    public var detections: [Detection] = []
    /// The frame's chips and their communities (nil when segmentation did not run).
    public var chips: ChipCommunities?
    /// Drift against an earlier overlapping frame.
    public var drift: DriftMeasurement?
    /// The condition monitor's reading.
    public var condition: ConditionMonitor.Reading?
    /// The detector model that ran (nil: the detector did not run, e.g. at survey magnification).
    public var modelID: String?
    /// The frame's first channel when it is an atomic-resolution frame the detector ran on: the
    /// material a retraining learns today's conditions from.
    public var atomicImage: (image: Image, pixelSize: Double)?
    /// Each channel's brightness over the whole frame.
    public var channels: [ChannelStatistics] = []
    /// The first channel averaged down to at most 128 pixels a side.
    public var thumbnail: FrameThumbnail?
    /// The first channel, whole: kept only for a policy that asks for the frame's pixels.
    public var pixels: Image?
    /// Milliseconds per stage: decode, drift, detect, condition, segment.
    public var timings: [String: Double] = [:]
    /// Problems that left a stage out (e.g. a registration that failed), in words.
    public var problems: [String] = []
    /// The pixel size the frame's lattice implies beside the header's (nil: the detector's
    /// magnification range was not reached, or no lattice stands out).
    public var pixelSize: PixelSizeReading?
    /// Why the frame was not analysed for defects when its calibration is off, in words.
    public var calibrationRefusal: String?

    /// An analysis with nothing found yet.
    public init(key: FrameKey, header: FrameHeader, receivedAt: ContinuousClock.Instant) {
        self.key = key
        self.header = header
        self.receivedAt = receivedAt
    }

    /// The command that produced the frame.
    public var commandID: CommandID? { header.commandID }
    /// Whether the detector ran on the frame.
    public var detectorRan: Bool { modelID != nil }
}

/// One detected defect.
public struct Detection: Sendable, Hashable {
    /// Column of the frame, pixels (0 at the first pixel's centre).
    public var column: Double
    /// Row of the frame, pixels.
    public var row: Double
    /// Where it lies on the stage, x, nm.
    public var stageX: Double
    /// Where it lies on the stage, y, nm.
    public var stageY: Double
    /// The defect type, e.g. `se1`.
    public var kind: String
    /// The detector's confidence, 0 ... 1.
    public var confidence: Double
}

/// A frame's chip grid and the community of every chip.
public struct ChipCommunities: Sendable {
    /// One chip.
    public struct Chip: Sendable, Hashable {
        /// Centre on the stage, nm.
        public var x: Double
        /// Centre on the stage, nm.
        public var y: Double
        /// Side, nm.
        public var size: Double
        /// The community's id, stable over the session.
        public var community: Int
        /// Defects detected in it (nil when the detector did not run).
        public var defects: Int?
        /// Each channel's brightness over the chip.
        public var channels: [ChannelStatistics] = []
    }

    /// One community's share of the frame.
    public struct Summary: Sendable, Hashable {
        /// The community's id.
        public var id: Int
        /// Chips of the frame in it.
        public var chips: Int
        /// Their area, nm².
        public var area: Double
        /// Defects detected in them.
        public var defects: Int
        /// The centre of its chips on the stage, nm.
        public var x: Double
        /// The centre of its chips on the stage, nm.
        public var y: Double
        /// Each channel's brightness over its chips.
        public var channels: [ChannelStatistics] = []
        /// The part of the session its chips are in (a ``ChipPart``'s raw value: "lattice",
        /// "defect_rich", "covered", "film" or "vacuum"), when the frame shows the lattice.
        public var part: String?
    }

    /// Where the chips lie in the frame, pixels.
    public struct Grid: Sendable, Hashable {
        /// The first chip's top-left pixel.
        public var originX: Int
        /// The first chip's top-left pixel.
        public var originY: Int
        /// Side of a chip, pixels.
        public var chipSize: Int
        /// Distance between neighbouring chips, pixels.
        public var stride: Int
        /// Chips per row.
        public var columns: Int
        /// Rows of chips.
        public var rows: Int

        /// The grid of a segmentation.
        public init(_ grid: ChipGrid) {
            originX = grid.originX
            originY = grid.originY
            chipSize = grid.chipSize
            stride = grid.stride
            columns = grid.columns
            rows = grid.rows
        }
    }

    /// The chips, in the chip grid's order (row by row).
    public var chips: [Chip]
    /// Per community, in id order.
    public var summaries: [Summary]
    /// The chip grid.
    public var grid: Grid
    /// The community of each chip, in the chip grid's order.
    public var ids: [Int] { chips.map(\.community) }
}
