import Foundation
import ImageNumerics
public import WireProtocol

/// A drift measurement: how far the sample moved between an earlier overlapping frame and this
/// one beyond what the commanded positions account for.
public struct DriftMeasurement: Sendable, Hashable {
    /// The earlier frame.
    public var reference: FrameKey
    /// Residual displacement, pixels of this frame.
    public var dxPixels: Double
    /// Residual displacement, pixels.
    public var dyPixels: Double
    /// Residual displacement, nm.
    public var dx: Double
    /// Residual displacement, nm.
    public var dy: Double
    /// Velocity over the time between the frames' starts, nm/s.
    public var vx: Double
    /// Velocity, nm/s.
    public var vy: Double
    /// Correlation peak height.
    public var peak: Double
}

/// Measures drift by registering each frame against the newest earlier frame it overlaps (same
/// pixel size and rotation, at least a fifth of its area shared): both are cropped to the shared
/// rectangle, whose whole-pixel offset the commanded centres give, and phase correlation finds
/// the rest. Keeps the last few frames' first channel.
struct DriftTracker {
    private struct Kept {
        let key: FrameKey
        let scan: ScanGeometry
        let time: Double
        let image: Image
    }

    private var kept: [Kept] = []
    /// Phase correlations (FFTW plans and their buffers) by overlap size, the most recently used
    /// last. Overlaps change size as the sample drifts, so only the newest few are kept: kept all,
    /// a day's session would hold one per size it ever met.
    private var registrations: [(key: String, registration: PhaseCorrelation)] = []
    /// Phase correlations kept at most.
    static let keptRegistrations = 8
    /// Frames kept to register against.
    let depth: Int
    /// Smallest shared side, pixels.
    let minimumSide = 64
    /// Frames scanned closer together than this (s) are not registered: a velocity over so short
    /// an interval is noise.
    static let shortestInterval = 0.01

    init(depth: Int = 4) { self.depth = depth }

    /// Registers `image` (of the frame `key`, scanned as `scan`, starting at `time`) against the
    /// newest overlapping earlier frame, then keeps it. Nil when nothing overlaps.
    mutating func measure(
        _ key: FrameKey, scan: ScanGeometry, time: Double, image: Image
    ) throws(RegistrationError)
        -> DriftMeasurement?
    {
        defer {
            kept.append(Kept(key: key, scan: scan, time: time, image: image))
            if kept.count > depth { kept.removeFirst() }
        }
        // Only frames scanned before this one: a frame that arrives late (re-sent, or out of order
        // on the feed) is registered against what came before it, never against a later frame.
        for earlier in kept.reversed() where earlier.time + Self.shortestInterval <= time {
            guard let overlap = Self.overlap(of: scan, with: earlier.scan, minimumSide: minimumSide) else { continue }
            let pixel = scan.pixelSizeX
            let registration = self.registration(width: overlap.width, height: overlap.height, pixel: pixel)
            let moving = image.crop(x: overlap.x, y: overlap.y, width: overlap.width, height: overlap.height)
            let reference = earlier.image.crop(
                x: overlap.referenceX, y: overlap.referenceY, width: overlap.width, height: overlap.height)
            let shift = try registration.shift(of: moving, against: reference)
            // Content moved by shift; the crops' whole-pixel offsets leave `fraction` expected.
            let dxPixels = shift.x - overlap.fractionX
            let dyPixels = shift.y - overlap.fractionY
            // Content moving +x in the image means the sample moved +x under the beam.
            let dx = dxPixels * pixel
            let dy = dyPixels * scan.fovY / Double(scan.height)
            let interval = time - earlier.time
            return DriftMeasurement(
                reference: earlier.key, dxPixels: dxPixels, dyPixels: dyPixels, dx: dx, dy: dy,
                vx: dx / interval, vy: dy / interval, peak: shift.peak)
        }
        return nil
    }

    private mutating func registration(width: Int, height: Int, pixel: Double) -> PhaseCorrelation {
        // Atomic resolution (below 0.5 Å/px): search within half a lattice period (1.6 Å) and use
        // frequencies up to 0.4 of Nyquist; coarser frames: anywhere within a quarter of the crop.
        let atomic = pixel < 0.05
        let key = "\(width)x\(height)/\(atomic)"
        if let index = registrations.firstIndex(where: { $0.key == key }) {
            let existing = registrations.remove(at: index)
            registrations.append(existing)
            return existing.registration
        }
        let made = PhaseCorrelation(
            width: width, height: height, band: atomic ? 0.4 : 0.25,
            maximumShift: atomic ? max(2, 0.16 / pixel) : Double(min(width, height)) / 4, window: true)
        registrations.append((key, made))
        if registrations.count > Self.keptRegistrations { registrations.removeFirst() }
        return made
    }

    /// Overlap sizes whose phase correlation is kept (for tests).
    var registrationSizes: [String] { registrations.map(\.key) }

    /// The shared rectangle in both frames' pixels: (x, y) in the new frame, (referenceX,
    /// referenceY) in the earlier one, and the sub-pixel part of the offset the crops leave.
    static func overlap(
        of scan: ScanGeometry, with earlier: ScanGeometry, minimumSide: Int
    ) -> (
        x: Int, y: Int, referenceX: Int, referenceY: Int, width: Int, height: Int, fractionX: Double,
        fractionY: Double
    )? {
        let pixelX = scan.fovX / Double(scan.width)
        let pixelY = scan.fovY / Double(scan.height)
        guard abs(earlier.fovX / Double(earlier.width) - pixelX) <= 0.01 * pixelX,
            abs(earlier.fovY / Double(earlier.height) - pixelY) <= 0.01 * pixelY,
            abs(earlier.rotation - scan.rotation) < 0.01, scan.rotation == 0
        else { return nil }
        // The earlier frame's left edge in the new frame's pixel coordinates.
        let offsetX = ((earlier.centerX - earlier.fovX / 2) - (scan.centerX - scan.fovX / 2)) / pixelX
        let offsetY = ((earlier.centerY - earlier.fovY / 2) - (scan.centerY - scan.fovY / 2)) / pixelY
        // Frames more than a frame apart do not overlap (and a peer's coordinates can be anything).
        guard abs(offsetX) <= Double(max(scan.width, earlier.width)),
            abs(offsetY) <= Double(max(scan.height, earlier.height))
        else { return nil }
        let wholeX = Int(offsetX.rounded())
        let wholeY = Int(offsetY.rounded())
        let x0 = max(0, wholeX)
        let y0 = max(0, wholeY)
        let x1 = min(scan.width, wholeX + earlier.width)
        let y1 = min(scan.height, wholeY + earlier.height)
        let width = x1 - x0
        let height = y1 - y0
        guard width >= minimumSide, height >= minimumSide,
            Double(width * height) >= 0.2 * Double(scan.width * scan.height)
        else { return nil }
        // A point at reference pixel r sits at new-frame pixel r + offset, so crop coordinate c of
        // the new crop shows reference-crop coordinate c - (offset - whole): without drift the
        // registration finds the fraction.
        return (
            x0, y0, x0 - wholeX, y0 - wholeY, width, height, offsetX - Double(wholeX), offsetY - Double(wholeY)
        )
    }
}
