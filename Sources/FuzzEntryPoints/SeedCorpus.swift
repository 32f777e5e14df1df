import WireProtocol

/// Valid messages of every kind, encoded as the daemon and the drivers encode them: where fuzzing
/// starts. `make fuzz-seeds` writes them to `Fuzz/Corpus`.
enum SeedCorpus {
    static let geometry = ScanGeometry(
        centerX: 120, centerY: -40.5, fovX: 16, width: 4, height: 3, dwell: 2, rotation: 5)

    /// A small frame; pixel values stay clear of the part separator's bytes.
    static func frame(
        seq: UInt64, dtype: PixelType, channels: [String], resent: Bool? = nil, source: String? = nil
    ) -> Frame? {
        let header = FrameHeader(
            session: "drv-seed", seq: seq, time: .init(start: 1_763_710_201.25, end: 1_763_710_201.5),
            scan: geometry, stage: StagePosition(x: 118.2, y: -41), channels: channels, dtype: dtype,
            commandID: "c-000017", purpose: seq == 0 ? .reference : .scan, resent: resent,
            optics: Optics(beamEnergy: 80, convergence: 25.2, defocus: 1.5, probeCurrent: 30), source: source)
        let count = geometry.width * geometry.height
        let buffers = channels.indices.compactMap { channel -> PixelBuffer? in
            switch dtype {
            case .uint16:
                try? PixelBuffer(
                    uint16: (0..<count).map { UInt16(200 + $0 * 3 + channel) }, width: geometry.width,
                    height: geometry.height)
            case .float32:
                try? PixelBuffer(
                    float32: (0..<count).map { 0.25 + Float($0) * 0.5 + Float(channel) }, width: geometry.width,
                    height: geometry.height)
            }
        }
        return try? Frame(header: header, channels: buffers)
    }

    static var frames: [(name: String, bytes: [UInt8])] {
        let frames: [(String, Frame?)] = [
            ("uint16-haadf", frame(seq: 7, dtype: .uint16, channels: ["HAADF"])),
            ("float32-haadf-maadf", frame(seq: 8, dtype: .float32, channels: ["HAADF", "MAADF"])),
            ("reference", frame(seq: 0, dtype: .uint16, channels: ["HAADF"])),
            (
                "replayed",
                frame(seq: 9, dtype: .uint16, channels: ["HAADF"], source: "session s-1, driver session drv-0, seq 4")
            ),
        ]
        return frames.compactMap { name, frame in
            guard let frame, let parts = try? FrameCodec.encode(frame) else { return nil }
            return (name, MessageParts.join(parts.map(\.bytes)))
        }
    }

    static let limits = InstrumentLimits(
        stageX: -1000...1000, stageY: -1000...1000, fov: 0.5...5000, dwell: 0.1...1000, pixels: 16...4096,
        detectors: ["HAADF", "MAADF"])

    static func welcome(_ limits: InstrumentLimits, instrument: String = "virtual") -> ControlMessage {
        .welcome(
            Welcome(
                id: "hello-1", driver: "sim/0.1", instrument: instrument, session: "drv-1",
                capabilities: CommandAction.allNames, limits: limits))
    }

    static var controlMessages: [(name: String, bytes: [UInt8])] {
        let scan = ScanRequest(geometry: geometry, channels: ["HAADF"])
        let readback = Readback(
            stage: StagePosition(x: 1, y: 2), scan: geometry, beamBlanked: false, frames: [3], lastSeq: 3,
            session: "drv-1")
        var messages: [(String, ControlMessage)] = [
            ("hello", .hello(Hello(id: "hello-1", client: "scopepilot/0.1.0", heartbeatMilliseconds: 1000))),
            ("welcome", welcome(limits)),
            ("scan-region", .command(Command(id: "c-1", deadline: .seconds(5), action: .scanRegion(scan)))),
            (
                "move-stage",
                .command(
                    Command(id: "c-2", deadline: .seconds(30), action: .moveStage(StagePosition(x: 1, y: 2, z: 3))))
            ),
            (
                "acquire-reference",
                .command(
                    Command(
                        id: "c-3", deadline: .seconds(60),
                        action: .acquireReference(ReferenceRequest(scan: scan, count: 4))))
            ),
            ("blank-beam", .command(Command(id: "c-4", deadline: .seconds(1), action: .blankBeam))),
            ("unblank-beam", .command(Command(id: "c-5", deadline: .seconds(1), action: .unblankBeam))),
            ("get-state", .command(Command(id: "c-6", deadline: .seconds(1), action: .getState))),
            (
                "resend-frames",
                .command(
                    Command(id: "c-7", deadline: .seconds(5), action: .resendFrames(from: 10, to: 14, session: "drv-1"))
                )
            ),
            ("abort", .command(Command(id: "c-8", deadline: .seconds(1), action: .abort("c-1")))),
            ("ack", .ack(Ack(id: "c-1"))),
            ("reject", .reject(Reject(id: "c-1", code: ReasonCode.outOfRange, reason: "fov too large"))),
            ("done", .done(Done(id: "c-1", readback: readback))),
            (
                "done-with-note",
                .done(
                    Done(
                        id: "c-1",
                        readback: Readback(
                            scan: geometry, frames: [4], session: "drv-1",
                            note: "served session s-1, driver session drv-0, seq 4: its field is 8.0 nm, not 16.0")))
            ),
            (
                "welcome-replay",
                .welcome(
                    Welcome(
                        id: "hello-1", driver: "scopepilot-replay/0.1", instrument: "replay of virtual",
                        session: "drv-2", capabilities: CommandAction.allNames, limits: limits,
                        replays: .session("s-1", log: "/data/yesterday.sqlite", mode: "order")))
            ),
            (
                "failed",
                .failed(Failed(id: "c-1", code: ReasonCode.beamBlanked, reason: "blanked", readback: readback))
            ),
            ("heartbeat", .heartbeat(Heartbeat(sentAt: 1_763_710_201.5, lastSeq: 99, session: "drv-1"))),
            ("error", .error(ErrorReport(code: "not_json", reason: "garbage"))),
        ]
        if let frame = frame(seq: 12, dtype: .uint16, channels: ["HAADF"], resent: true) {
            messages.append(("resent-frame", .frame(inReplyTo: "c-7", frame)))
        }
        return encoded(messages)
    }

    static var welcomes: [(name: String, bytes: [UInt8])] {
        encoded([
            ("welcome", welcome(limits)),
            // The stage limits that once trapped the daemon: disjoint from every envelope.
            (
                "welcome-far-stage",
                welcome(
                    InstrumentLimits(
                        stageX: 1e20...2e20, stageY: 1e20...2e20, fov: 0.5...5000, dwell: 0.1...1000,
                        pixels: 16...4096, detectors: ["HAADF"]))
            ),
            (
                "welcome-narrow",
                welcome(
                    InstrumentLimits(
                        stageX: -1...1, stageY: 0...0, fov: 1...1, dwell: 1...1, pixels: 16...16, detectors: ["BF"]))
            ),
        ])
    }

    private static func encoded(_ messages: [(String, ControlMessage)]) -> [(name: String, bytes: [UInt8])] {
        messages.compactMap { name, message in
            guard let parts = try? ControlCodec.encode(message) else { return nil }
            return (name, MessageParts.join(parts.map(\.bytes)))
        }
    }
}
