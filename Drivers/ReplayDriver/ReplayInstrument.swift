import DedicatedThreads
import Foundation
public import InstrumentDriver
public import WireProtocol

/// A recording served as an ``Instrument``: behind `DriverRuntime` it is the replay driver, with
/// the same protocol and endpoints as the simulated one. Every served frame's header names the
/// recorded frame it is (`source`); where it differs from what was asked, the DONE readback's
/// `note` says how.
public actor ReplayInstrument: Instrument {
    /// How scans are answered.
    public enum Mode: String, Sendable, CaseIterable {
        /// Each scan gets the next recorded frame, whatever it asked (a recorded session's own sequence).
        case order
        /// Each scan gets the recorded frame that covers the asked region, cropped (and binned
        /// to a whole multiple of its pixel size); a region no frame covers is refused (`not_recorded`).
        case region
    }

    /// How long a scan takes.
    public enum Timing: String, Sendable, CaseIterable {
        /// As long as the recorded frame took (command sent to frame received), else its dwell
        /// times its pixels.
        case exact
        /// As fast as the frames can be read.
        case fast
    }

    public nonisolated let identity: InstrumentIdentity
    public nonisolated let limits: InstrumentLimits
    /// The frames served from.
    public nonisolated let recording: Recording
    private let mode: Mode
    private let timing: Timing
    private let pace: Pacer
    private var next = 0
    private var blanked = false
    private var stage: StagePosition
    private var tally = Tally()
    /// The instrument's own thread: serving a frame reads its files (TIFF decoding, 10-30 ms),
    /// which must not block Swift's cooperative pool, where the driver's sockets are served.
    private let thread = ComputeThread(name: "scopepilot-replay")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { thread.asUnownedSerialExecutor() }

    /// What has been served so far.
    public struct Tally: Sendable, Hashable {
        /// Frames served.
        public var served = 0
        /// Served frames that differ from what was asked (their DONE carried a note).
        public var differing = 0
        /// Scans refused: no recorded frame covered them, or the recording was over.
        public var refused = 0

        /// A tally.
        public init(served: Int = 0, differing: Int = 0, refused: Int = 0) {
            self.served = served
            self.differing = differing
            self.refused = refused
        }
    }

    /// How an `exact` scan is made to last as long as the recorded one: called with the recorded
    /// scan's duration in seconds and the instant serving it began, it returns when the scan is due.
    public typealias Pacer = @Sendable (_ seconds: Double, _ started: ContinuousClock.Instant) async throws -> Void

    /// The pacer of `--timing exact`: sleeps out what is left of the recorded duration once the
    /// frame has been read (cancellation ends the wait).
    public static let sleepingPacer: Pacer = { seconds, started in
        let remaining = Duration.seconds(seconds) - (ContinuousClock.now - started)
        if remaining > .zero { try await Task.sleep(for: remaining) }
    }

    /// Serves `recording` in `mode` with `timing`; `exact` scans wait on `pace`. The `region`
    /// mode needs every frame's stage position.
    public init(
        recording: Recording, mode: Mode, timing: Timing = .fast, pace: @escaping Pacer = ReplayInstrument.sleepingPacer
    ) throws(ReplayError) {
        guard mode == .order || recording.positioned else {
            throw ReplayError(
                "serving by region needs every frame's stage position: give a positions CSV with x_nm and y_nm "
                    + "(or serve the frames in order with --mode order)")
        }
        var origin = recording.origin
        origin.mode = mode.rawValue
        self.recording = recording
        self.mode = mode
        self.timing = timing
        self.pace = pace
        identity = InstrumentIdentity(
            driver: "scopepilot-replay/0.1", instrument: "replay of \(recording.instrument)", replays: origin)
        limits = recording.limits
        stage = recording.frames.first?.stage ?? StagePosition(x: 0, y: 0)
    }

    /// Frames served, differing and refused so far.
    public var figures: Tally { tally }

    public func acquire(_ request: ScanRequest, purpose: FrameHeader.Purpose) async throws -> AcquiredFrame {
        guard !blanked else {
            throw InstrumentError(
                code: ReasonCode.beamBlanked, reason: "the beam is blanked; send unblank_beam before scanning")
        }
        let started = ContinuousClock.now
        let frame: RecordedFrame
        var pixels: RecordedPixels
        var scan: ScanGeometry
        var notes: [String] = []
        switch mode {
        case .order:
            guard next < recording.frames.count else {
                tally.refused += 1
                throw InstrumentError(
                    code: ReasonCode.recordingEnded,
                    reason: "all \(recording.frames.count) recorded frames have been served")
            }
            frame = recording.frames[next]
            next += 1
            pixels = try read(frame)
            scan = frame.scan
            notes = Self.differences(asked: request.geometry, served: scan)
        case .region:
            switch RegionMatch.find(request.geometry, channels: request.channels, in: recording.frames) {
            case .failure(let miss):
                tally.refused += 1
                throw InstrumentError(code: ReasonCode.notRecorded, reason: miss.reason)
            case .success(let match):
                frame = recording.frames[match.frame]
                pixels = try read(frame).cropped(
                    left: match.left, top: match.top, columns: match.columns, rows: match.rows, bin: match.bin)
                scan = match.scan
                if match.bin > 1 { notes.append("binned \(match.bin) x \(match.bin) from the recorded pixels") }
                notes += Self.differences(asked: request.geometry, served: scan)
            }
        }
        var channels = frame.channels
        if let asked = request.channels {
            let kept = asked.filter(frame.channels.contains)
            if kept.count < asked.count {
                notes.append(
                    "the recording has no \(asked.filter { !frame.channels.contains($0) }.joined(separator: ", "))")
            }
            if !kept.isEmpty { channels = kept }
        }
        if timing == .exact {
            try await pace(frame.acquisitionSeconds ?? scan.dwell * 1e-6 * Double(scan.width * scan.height), started)
        }
        try Task.checkCancellation()
        let buffers: [PixelBuffer]
        do { buffers = try pixels.buffers(channels, of: frame.channels) } catch {
            throw InstrumentError(reason: "\(frame.source) cannot be sent: \(error)")
        }
        tally.served += 1
        if !notes.isEmpty { tally.differing += 1 }
        // In order the recorded times are kept (drift rates stay those of the recording); by
        // region frames come in any order, so they are stamped now.
        let now = Date().timeIntervalSince1970
        let duration = frame.acquisitionSeconds ?? 0
        let time =
            mode == .order
            ? FrameHeader.AcquisitionTime(start: frame.time - duration, end: frame.time)
            : FrameHeader.AcquisitionTime(start: now - duration, end: now)
        let note = notes.isEmpty ? nil : String("served \(frame.source): \(notes.joined(separator: "; "))".prefix(1000))
        return AcquiredFrame(
            scan: scan, stage: mode == .order ? frame.stage : stage, channels: channels, buffers: buffers, time: time,
            optics: frame.optics, source: frame.source, note: note)
    }

    private func read(_ frame: RecordedFrame) throws -> RecordedPixels {
        do { return try RecordedPixels.read(frame) } catch { throw InstrumentError(reason: error.description) }
    }

    /// How `served` differs from `asked`, one phrase per difference that matters (a centre more
    /// than a pixel away, another field, frame size, dwell or rotation).
    static func differences(asked: ScanGeometry, served: ScanGeometry) -> [String] {
        var notes: [String] = []
        let offset = hypot(served.centerX - asked.centerX, served.centerY - asked.centerY)
        if offset > max(served.pixelSizeX, asked.pixelSizeX) {
            notes.append("its centre is \(nm(offset)) nm from the asked (\(nm(asked.centerX)), \(nm(asked.centerY)))")
        }
        if abs(served.fovX - asked.fovX) > 0.01 * asked.fovX {
            notes.append("its field is \(nm(served.fovX)) nm, not \(nm(asked.fovX))")
        }
        if served.width != asked.width || served.height != asked.height {
            notes.append("it is \(served.width) x \(served.height) px, not \(asked.width) x \(asked.height)")
        }
        if abs(served.dwell - asked.dwell) > 0.01 * asked.dwell {
            notes.append(String(format: "its dwell is %.3g µs, not %.3g", served.dwell, asked.dwell))
        }
        if abs(served.rotation - asked.rotation) > RegionMatch.rotationTolerance {
            notes.append(String(format: "its rotation is %.1f°, not %.1f°", served.rotation, asked.rotation))
        }
        return notes
    }

    public func moveStage(to position: StagePosition) async throws -> StagePosition {
        stage = position
        return position
    }

    public func setBeamBlanked(_ blanked: Bool) async throws { self.blanked = blanked }

    public func state() async -> InstrumentState { InstrumentState(stage: stage, beamBlanked: blanked) }
}
