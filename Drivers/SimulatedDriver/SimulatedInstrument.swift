public import Foundation
import ImageNumerics
public import InstrumentDriver
public import Simulator
public import WireProtocol

/// The virtual microscope as an ``Instrument``: served by `DriverRuntime`, it is the simulated
/// driver. Frames carry detector counts as uint16; ground truth goes to a side folder the daemon
/// never reads.
public actor SimulatedInstrument: Instrument {
    public nonisolated let identity = InstrumentIdentity(
        driver: "scopepilot-sim/0.1", instrument: "virtual STEM, WSe2 monolayer sample")
    public nonisolated let limits: InstrumentLimits
    private let scope: VirtualMicroscope
    private let truth: GroundTruthWriter?
    private let realtime: Bool
    /// Wall-clock time of simulated time zero, so frame timestamps follow the simulated clock.
    private let epoch = Date().timeIntervalSince1970
    private var blanked = false
    private var acquisitions: UInt64 = 0
    private var pending: [UInt64: (truth: GroundTruth, conditions: String?)] = [:]

    /// Serves `scope`. With `truthDirectory`, writes each frame's ground truth there; with
    /// `realtime`, a scan takes as long as it would on the instrument (at least as long as it takes
    /// to render).
    public init(scope: VirtualMicroscope, truthDirectory: URL? = nil, realtime: Bool = false) {
        self.scope = scope
        self.realtime = realtime
        truth = truthDirectory.map(GroundTruthWriter.init)
        let layout = scope.sample.layout
        limits = InstrumentLimits(
            stageX: (layout.flakeCenterX - 1500)...(layout.flakeCenterX + 1500),
            stageY: (layout.flakeCenterY - 1500)...(layout.flakeCenterY + 1500),
            fov: 1...2000, dwell: 0.5...1000, pixels: 16...4096, detectors: scope.detectors.keys.sorted())
    }

    public func acquire(_ request: ScanRequest, purpose: FrameHeader.Purpose) async throws -> AcquiredFrame {
        guard !blanked else {
            throw InstrumentError(
                code: ReasonCode.beamBlanked, reason: "the beam is blanked; send unblank_beam before scanning")
        }
        let channels = request.channels ?? scope.detectors.keys.sorted()
        let rendering = ContinuousClock.now
        let frame = scope.acquire(request.geometry, channels: channels)
        if realtime {
            // The scan takes as long as on an instrument: rendering it counts towards that time.
            let remaining = Duration.seconds(frame.end - frame.start) - (ContinuousClock.now - rendering)
            if remaining > .zero { try await Task.sleep(for: remaining) }
        }
        try Task.checkCancellation()
        var buffers: [PixelBuffer] = []
        for name in channels {
            guard let image = frame.channels[name] else {
                throw InstrumentError(
                    code: ReasonCode.outOfRange, reason: "the virtual microscope has no detector '\(name)'")
            }
            let pixels = image.pixels.map { UInt16(clamping: Int($0.isFinite ? $0.rounded(.down) : 0)) }
            buffers.append(
                try PixelBuffer(uint16: pixels, width: request.geometry.width, height: request.geometry.height))
        }
        acquisitions += 1
        pending[acquisitions] = (frame.truth, frame.conditions)
        let optics = scope.optics
        return AcquiredFrame(
            scan: request.geometry, stage: StagePosition(x: frame.stageReadback.x, y: frame.stageReadback.y),
            channels: channels, buffers: buffers, time: .init(start: epoch + frame.start, end: epoch + frame.end),
            optics: Optics(
                beamEnergy: optics.beamEnergy, convergence: optics.convergence, defocus: optics.defocus,
                sphericalAberration: optics.sphericalAberration, probeCurrent: optics.current),
            tag: acquisitions)
    }

    public func published(_ frame: AcquiredFrame, seq: UInt64, session: String) async {
        guard let tag = frame.tag, let entry = pending.removeValue(forKey: tag) else { return }
        truth?.write(entry.truth, seq: seq, session: session, scan: frame.scan, conditions: entry.conditions)
    }

    public func moveStage(to position: StagePosition) async throws -> StagePosition {
        let readback = scope.moveStage(toX: position.x, y: position.y)
        return StagePosition(x: readback.x, y: readback.y)
    }

    public func setBeamBlanked(_ blanked: Bool) async throws { self.blanked = blanked }

    public func state() async -> InstrumentState {
        let readback = scope.stageReadback
        return InstrumentState(stage: StagePosition(x: readback.x, y: readback.y), beamBlanked: blanked)
    }

    /// Whether the beam is blanked.
    public var isBlanked: Bool { blanked }
}

extension FaultPlan {
    /// The driver faults a scenario asks for.
    public init(_ faults: ScenarioFaults) {
        self.init()
        dropFrames = faults.dropFrames
        duplicateFrames = faults.duplicateFrames
        delayFrames = faults.delayFrames
        nanFrames = faults.nanFrames
        malformedFrames = faults.malformedFrames
        lostFrames = faults.lostFrames
        nanResentFrames = faults.nanResentFrames
        rejectActions = faults.rejectActions
        blankAfterFrames = faults.blankAfterFrames
        restartAfterFrames = faults.restartAfterFrames
        slowReplyEvery = faults.slowReplyEvery
        slowReplyDelay = .milliseconds(faults.slowReplyDelayMilliseconds)
    }
}
