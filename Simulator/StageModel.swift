import Foundation

/// The goniometer: moves take time to settle, reversing direction loses some travel to backlash,
/// and the position it reports is not exactly where it is.
public struct StageModel: Sendable, Codable, Hashable {
    /// Travel speed, nm/s.
    public var speed = 2000.0
    /// Settling time after a move, s.
    public var settleTime = 0.5
    /// Travel lost when a direction reverses, nm.
    public var backlash = 4.0
    /// Standard deviation of where a move ends relative to the target, nm.
    public var positioningError = 1.5
    /// Standard deviation of the reported position relative to the true one, nm.
    public var readbackError = 0.5
    /// Beam shift reaches this far from the stage position, nm: farther scans move the stage first.
    public var beamShiftRange = 500.0

    /// Default stage behaviour.
    public init() {}
}

/// Where the stage is and where it was last told to go.
struct StageState: Sendable {
    /// Commanded position, nm.
    var targetX = 0.0
    var targetY = 0.0
    /// True position, nm.
    var actualX = 0.0
    var actualY = 0.0
    /// Sign of the last move along each axis, for backlash.
    var lastDirectionX = 0.0
    var lastDirectionY = 0.0

    /// Moves toward (x, y); returns the time it took, s.
    mutating func move(to x: Double, _ y: Double, model: StageModel, noise: inout NoiseGenerator) -> Double {
        func axis(_ actual: inout Double, _ last: inout Double, _ target: Double) {
            let direction = target > actual ? 1.0 : target < actual ? -1.0 : 0
            var end = target + model.positioningError * noise.gaussian()
            if direction != 0 && last != 0 && direction != last { end -= direction * model.backlash }
            if direction != 0 { last = direction }
            actual = end
        }
        let distance = ((x - actualX) * (x - actualX) + (y - actualY) * (y - actualY)).squareRoot()
        axis(&actualX, &lastDirectionX, x)
        axis(&actualY, &lastDirectionY, y)
        targetX = x
        targetY = y
        return distance / model.speed + model.settleTime
    }
}
