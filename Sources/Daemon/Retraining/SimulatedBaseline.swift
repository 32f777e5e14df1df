public import DaemonAnalysis
public import DefectDetection
import DetectorTraining
public import ImageNumerics

/// The condition monitor's baseline from the virtual microscope: training tiles drawn from a
/// model's condition ranges at the frames' pixel size, the same tiles every time.
public struct SimulatedBaseline: ConditionBaselineSource {
    /// The baseline of the shipped simulator.
    public init() {}

    public func images(count: Int, side: Int, ranges: ConditionRanges, pixelSize: Double) -> [Image] {
        var fixed = ranges
        fixed.pixelSize = pixelSize...pixelSize
        return TrainingTiles.generate(count: count, size: side, ranges: fixed, seed: 0xC0FFEE).map {
            Image(width: $0.size, height: $0.size, pixels: $0.image)
        }
    }
}
