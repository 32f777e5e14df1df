/// What analysis found in one frame, written in one transaction.
public struct AnalysisRecord: Sendable, Hashable {
    /// One detected defect, in the frame's pixel coordinates.
    public struct Detection: Sendable, Hashable {
        /// Column, pixels.
        public var x: Double
        /// Row, pixels.
        public var y: Double
        /// Defect type.
        public var type: String
        /// Confidence, 0 ... 1.
        public var confidence: Double
        /// Where it lies on the stage, nm.
        public var stageX: Double?
        /// Where it lies on the stage, nm.
        public var stageY: Double?

        /// A detection.
        public init(
            x: Double, y: Double, type: String, confidence: Double, stageX: Double? = nil, stageY: Double? = nil
        ) {
            self.stageX = stageX
            self.stageY = stageY
            self.x = x
            self.y = y
            self.type = type
            self.confidence = confidence
        }
    }

    /// A drift measurement against an earlier frame.
    public struct Drift: Sendable, Hashable {
        /// The earlier frame's row id.
        public var referenceFrame: Int64
        /// Residual displacement, pixels.
        public var dx: Double
        /// Residual displacement, pixels.
        public var dy: Double
        /// Correlation peak height.
        public var peak: Double
        /// Drift velocity, nm/s.
        public var vx: Double?
        /// Drift velocity, nm/s.
        public var vy: Double?

        /// A drift measurement.
        public init(referenceFrame: Int64, dx: Double, dy: Double, peak: Double, vx: Double?, vy: Double?) {
            self.referenceFrame = referenceFrame
            self.dx = dx
            self.dy = dy
            self.peak = peak
            self.vx = vx
            self.vy = vy
        }
    }

    /// The frame's row id.
    public var frame: Int64
    /// Detected defects.
    public var detections: [Detection]
    /// Community id per chip (chip index in the frame's chip grid).
    public var communities: [Int]
    /// Each chip's centre on the stage, in the same order (empty: not known).
    public var chipCentres: [StagePoint] = []
    /// The chip grid, JSON: `origin_x_px`, `origin_y_px`, `chip_px`, `stride_px`, `columns`, `rows`.
    public var chipGrid: String?
    /// Drift against an earlier frame, if one overlapped.
    public var drift: Drift?
    /// Condition score and the statistics behind it (JSON), if measured.
    public var condition: (score: Double, statistics: String)?
    /// The detector model that analysed the frame (nil: the detector did not run).
    public var model: String?

    /// An analysis record.
    public init(
        frame: Int64, detections: [Detection] = [], communities: [Int] = [], drift: Drift? = nil,
        condition: (score: Double, statistics: String)? = nil, model: String? = nil
    ) {
        self.frame = frame
        self.detections = detections
        self.communities = communities
        self.drift = drift
        self.condition = condition
        self.model = model
    }

    public static func == (a: AnalysisRecord, b: AnalysisRecord) -> Bool {
        a.frame == b.frame && a.detections == b.detections && a.communities == b.communities && a.drift == b.drift
            && a.chipCentres == b.chipCentres && a.chipGrid == b.chipGrid
            && a.condition?.score == b.condition?.score && a.condition?.statistics == b.condition?.statistics
            && a.model == b.model
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(frame)
        hasher.combine(detections)
        hasher.combine(communities)
    }
}

/// A point on the stage, nm.
public struct StagePoint: Sendable, Hashable {
    /// x, nm.
    public var x: Double
    /// y, nm.
    public var y: Double

    /// A point.
    public init(x: Double, y: Double) {
        self.x = x
        self.y = y
    }
}
