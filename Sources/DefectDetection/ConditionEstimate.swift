import ImageNumerics

/// What the realism step concluded about the microscope from a set of frames.
public struct ConditionEstimate: Sendable, Codable, Hashable {
    /// The most likely conditions: the median of the accepted simulations.
    public var conditions: TileConditions
    /// The ranges the accepted simulations span: train on these to match the frames.
    public var ranges: ConditionRanges
    /// The frames' statistics (mean over crops).
    public var statistics: FrameStatistics
    /// Mean standardised distance between the frames' statistics and the accepted simulations'.
    public var distance: Double
    /// Simulations compared.
    public var simulations: Int

    /// An estimate.
    public init(
        conditions: TileConditions, ranges: ConditionRanges, statistics: FrameStatistics, distance: Double,
        simulations: Int
    ) {
        self.conditions = conditions
        self.ranges = ranges
        self.statistics = statistics
        self.distance = distance
        self.simulations = simulations
    }
}
