import ArgumentParser
import Daemon
import DecisionLog
import Foundation
import InstrumentDriver
import Logging
import PolicyKit
import ReplayDriver
import ServiceLifecycle
import Transport
import UnixSignals
import WireProtocol

/// One session of the daemon against the replay driver in this process, over loopback ZeroMQ as
/// in production: what `scopepilot policy eval --replay` runs.
enum ReplayRun {
    /// Runs `policy` against `recording` served in `mode` until the session ends; the decision log
    /// goes to `database`. SIGINT/SIGTERM stop the daemon first, then the driver.
    static func run(
        policy: PolicyFile, recording: Recording, mode: ReplayInstrument.Mode, model: String?, database: String,
        clientName: String, logger: Logger
    ) async throws -> DaemonStatus {
        FrameBufferReuse.enable()
        let context = try ZMQContext()
        let loopback = try Endpoint("tcp://127.0.0.1:*")
        let instrument: ReplayInstrument
        do { instrument = try ReplayInstrument(recording: recording, mode: mode, timing: .fast) } catch {
            throw ValidationError(error.description)
        }
        let driver = try await DriverRuntime(
            instrument: instrument, configuration: .init(feed: loopback, control: loopback), context: context)
        var configuration = DaemonConfiguration(
            feed: driver.feedEndpoint, control: driver.controlEndpoint, database: database, policy: policy)
        configuration.model = model
        configuration.clientName = clientName
        let daemon = ScopePilotDaemon(configuration: configuration, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: driver),
                    .init(service: daemon, successTerminationBehavior: .gracefullyShutdownGroup),
                ], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        return daemon.status
    }

    /// Ground truth for the frames a replayed session was served, from the simulator's truth of
    /// the recorded session (`recordedTruth/DRIVER-SESSION/SEQ.json`): each defect is carried from
    /// its recorded frame's pixels into the served frame's (a crop, a binning), and written as
    /// `into/DRIVER-SESSION/SEQ.json` under the replayed frame's own driver session and seq, as
    /// `SessionScore` reads it. Returns how many frames got their truth.
    static func carryTruth(
        log: DecisionLog, session: String, recordedTruth: URL, into folder: URL
    ) throws -> Int {
        let frames = try log.query(
            "SELECT driver_session, seq, scan, source FROM frames WHERE session_id = ? AND source IS NOT NULL",
            arguments: [session])
        var written = 0
        for row in frames.rows {
            guard let driver = row[0], let seq = row[1], let scanText = row[2], let source = row[3],
                let served = try? JSONDecoder().decode(ScanGeometry.self, from: Data(scanText.utf8)),
                let recorded = RecordedFrameName(source),
                let data = try? Data(
                    contentsOf: recordedTruth.appendingPathComponent(recorded.driverSession)
                        .appendingPathComponent("\(recorded.seq).json")),
                let truth = try? JSONDecoder().decode(Truth.self, from: data)
            else { continue }
            let defects = truth.defects.compactMap { defect -> Truth.Defect? in
                let (x, y) = map(column: defect.x, row: defect.y, from: truth.scan, to: served)
                guard x >= -0.5, y >= -0.5, x < Double(served.width) - 0.5, y < Double(served.height) - 0.5 else {
                    return nil
                }
                return Truth.Defect(x: x, y: y, type: defect.type)
            }
            let out = folder.appendingPathComponent(driver, isDirectory: true)
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            try JSONEncoder().encode(Truth(scan: served, conditions: truth.conditions, defects: defects))
                .write(to: out.appendingPathComponent("\(seq).json"))
            written += 1
        }
        return written
    }

    /// A pixel position of a frame scanned with `recorded` as a pixel position of one scanned
    /// with `served` (same stage coordinates; pixel centres at (n - 1) / 2 from the scan centre).
    static func map(
        column: Double, row: Double, from recorded: ScanGeometry, to served: ScanGeometry
    )
        -> (x: Double, y: Double)
    {
        func stage(_ c: Double, _ r: Double, _ g: ScanGeometry) -> (Double, Double) {
            let theta = g.rotation * .pi / 180
            let u = (c - Double(g.width - 1) / 2) * g.pixelSizeX
            let v = (r - Double(g.height - 1) / 2) * g.pixelSizeY
            return (g.centerX + cos(theta) * u - sin(theta) * v, g.centerY + sin(theta) * u + cos(theta) * v)
        }
        let (x, y) = stage(column, row, recorded)
        let theta = served.rotation * .pi / 180
        let dx = x - served.centerX
        let dy = y - served.centerY
        let u = cos(theta) * dx + sin(theta) * dy
        let v = -sin(theta) * dx + cos(theta) * dy
        return (
            u / served.pixelSizeX + Double(served.width - 1) / 2, v / served.pixelSizeY + Double(served.height - 1) / 2
        )
    }

    /// The simulator's truth file, the parts scoring needs.
    struct Truth: Codable {
        struct Defect: Codable {
            let x: Double
            let y: Double
            let type: String
        }
        let scan: ScanGeometry
        let conditions: String?
        let defects: [Defect]
    }
}
