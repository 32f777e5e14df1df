import DaemonAnalysis
import WireProtocol

/// The sample's drift over a session, from the registrations of overlapping frames.
///
/// Each registration measures how far the sample moved between an earlier frame and this one;
/// adding it to the earlier frame's displacement gives this frame's. The velocity is the
/// measurement over the time between the two frames, smoothed over the last few. The prediction
/// for the next command is the newest displacement plus the velocity times the usual time between
/// frames (the driver's clock, so that simulated and real instruments are treated alike).
struct DriftModel {
    /// Displacement of the sample at the newest frame, nm.
    private(set) var offset: (x: Double, y: Double) = (0, 0)
    /// Smoothed velocity, nm/s.
    private(set) var velocity: (x: Double, y: Double) = (0, 0)
    private var displacement: [FrameKey: (x: Double, y: Double)] = [:]
    private var lastTime: Double?
    private var cadence: Double = 0
    private var measurements = 0
    /// Weight of the newest velocity measurement.
    let smoothing = 0.5
    /// Correlation peaks below this are not trusted.
    let minimumPeak = 0.02
    /// Faster drift than this (nm/s) is not a sample drifting but a registration gone wrong (a
    /// repeated texture, a frame out of order): not trusted.
    let largestSpeed = 5.0

    /// A frame without a registration: its displacement is the prediction.
    mutating func start(frame: FrameKey, time: Double) {
        advance(to: time)
        displacement[frame] = offset
    }

    /// A frame registered against an earlier one. The registration compares commanded positions,
    /// so it measures the sample's own move whatever correction the commands carried.
    mutating func add(_ measured: DriftMeasurement, frame: FrameKey, time: Double) {
        advance(to: time)
        guard measured.peak >= minimumPeak, measured.dx.isFinite, measured.dy.isFinite,
            abs(measured.vx) <= largestSpeed, abs(measured.vy) <= largestSpeed,
            let earlier = displacement[measured.reference]
        else {
            displacement[frame] = offset
            return
        }
        offset = (earlier.x + measured.dx, earlier.y + measured.dy)
        displacement[frame] = offset
        let weight = measurements == 0 ? 1 : smoothing
        velocity = (
            (1 - weight) * velocity.x + weight * measured.vx, (1 - weight) * velocity.y + weight * measured.vy
        )
        measurements += 1
        if displacement.count > 256 { displacement = [frame: offset] }
    }

    /// Where the sample will be displaced to when the next frame is taken, nm.
    func predictedOffset() -> (x: Double, y: Double) {
        (offset.x + velocity.x * cadence, offset.y + velocity.y * cadence)
    }

    private mutating func advance(to time: Double) {
        if let lastTime, time > lastTime { cadence = time - lastTime }
        lastTime = time
    }
}
