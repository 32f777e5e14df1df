import Foundation
public import WireProtocol

/// A stand-in instrument that scans a synthetic hexagonal lattice with noise: enough to exercise
/// the protocol, the transport and the daemon without the virtual microscope.
public actor TestPatternInstrument: Instrument {
    public nonisolated let identity = InstrumentIdentity(
        driver: "scopepilot-test-pattern/0.1", instrument: "test pattern")
    public nonisolated let limits: InstrumentLimits
    private var stage = StagePosition(x: 0, y: 0)
    private var blanked = false
    private var noiseState: UInt64 = 0x9E37_79B9_7F4A_7C15
    /// When set, each scan takes this long (to test deadlines and aborts).
    public var scanDelay: Duration = .zero

    /// Creates the instrument with generous limits.
    public init(
        limits: InstrumentLimits = InstrumentLimits(
            stageX: -1e6...1e6, stageY: -1e6...1e6, fov: 0.5...5000, dwell: 0.1...1000, pixels: 16...4096,
            detectors: ["HAADF", "MAADF"])
    ) {
        self.limits = limits
    }

    /// Sets the per-scan delay.
    public func setScanDelay(_ delay: Duration) { scanDelay = delay }

    public func acquire(_ request: ScanRequest, purpose: FrameHeader.Purpose) async throws -> AcquiredFrame {
        let start = Date().timeIntervalSince1970
        if scanDelay > .zero { try await Task.sleep(for: scanDelay) }
        let g = request.geometry
        let channels = request.channels ?? ["HAADF"]
        var buffers: [PixelBuffer] = []
        for (index, _) in channels.enumerated() {
            buffers.append(
                try PixelBuffer(uint16: render(g, contrast: index == 0 ? 1.0 : 0.6), width: g.width, height: g.height))
        }
        let end = Date().timeIntervalSince1970
        return AcquiredFrame(
            scan: g, stage: stage, channels: channels, buffers: buffers,
            time: .init(start: start, end: end),
            optics: Optics(beamEnergy: 80, convergence: 25.2, probeCurrent: 30))
    }

    public func moveStage(to position: StagePosition) async throws -> StagePosition {
        stage = position
        return position
    }

    public func setBeamBlanked(_ blanked: Bool) async throws { self.blanked = blanked }

    public func state() async -> InstrumentState { InstrumentState(stage: stage, beamBlanked: blanked) }

    /// Whether the beam is blanked (tests check the watchdog with it).
    public var isBlanked: Bool { blanked }

    private func render(_ g: ScanGeometry, contrast: Double) -> [UInt16] {
        // Two plane waves 60 degrees apart make a hexagonal lattice with a 0.33 nm period.
        let k = 2 * Double.pi / 0.33
        let pixel = g.fovX / Double(g.width)
        var out = [UInt16](repeating: 0, count: g.width * g.height)
        for row in 0..<g.height {
            let y = g.centerY + (Double(row) - Double(g.height) / 2) * pixel
            for column in 0..<g.width {
                let x = g.centerX + (Double(column) - Double(g.width) / 2) * pixel
                let a = cos(k * x) + cos(k * (0.5 * x + 0.866 * y)) + cos(k * (-0.5 * x + 0.866 * y))
                noiseState = noiseState &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let noise = Double(noiseState >> 40) / Double(1 << 24) * 60
                out[row * g.width + column] = UInt16(clamping: Int((200 + 150 * contrast * (a + 1.5)) + noise))
            }
        }
        return out
    }
}
