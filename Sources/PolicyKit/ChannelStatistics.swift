/// How bright one detector channel is over an area: the mean and standard deviation of its pixels
/// (in the units the driver sends: counts or normalised intensity).
public struct ChannelStatistics: Sendable, Hashable {
    /// The channel, e.g. `HAADF`.
    public var name: String
    /// Mean pixel value.
    public var mean: Double
    /// Standard deviation of the pixel values.
    public var std: Double

    /// Creates channel statistics.
    public init(name: String, mean: Double, std: Double) {
        self.name = name
        self.mean = mean
        self.std = std
    }
}

extension [ChannelStatistics] {
    /// The statistics of channel `name`, or of the first channel when `name` is nil.
    public func channel(_ name: String? = nil) -> ChannelStatistics? {
        guard let name else { return first }
        return first { $0.name == name }
    }
}
