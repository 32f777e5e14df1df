import DecisionLog
import Foundation
import ImageIO
import ImageNumerics
import InstrumentDriver
import ReplayDriver
import Synchronization
import Testing
import Transport
import WireProtocol

@testable import Daemon

@Suite("The replay driver: recorded sessions and folders of frames served as a microscope")
struct ReplayTests {
    /// Serves `instrument` over loopback until `body` returns.
    static func serving<T>(
        _ instrument: ReplayInstrument, _ body: (DriverRuntime) async throws -> T
    ) async throws -> T {
        let loopback = try Endpoint("tcp://127.0.0.1:*")
        let runtime = try await DriverRuntime(
            instrument: instrument, configuration: .init(feed: loopback, control: loopback), context: try ZMQContext())
        let task = Task { await runtime.run() }
        defer { task.cancel() }
        return try await body(runtime)
    }

    /// The pixels of a frame of record, by channel.
    static func pixels(of filesJSON: String?, base: URL) throws -> [String: [Float]] {
        let text = try #require(filesJSON)
        let files = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String])
        return try files.mapValues { try ImageFile.read(base.appendingPathComponent($0)).pixels }
    }

    @Test("a recorded session replays through the daemon with another policy: same pixels, every command decided")
    func recordedSessionReplays() async throws {
        var recorder = try await DaemonHarness(policy: raster(columns: 2, rows: 2, pixels: 128))
        recorder.configuration.storePixels = true
        defer { recorder.finish() }
        let recorded = try #require(try await recorder.run().status.session)

        let recording = try Recording.session(nil, in: recorder.configuration.database)
        #expect(recording.frames.count == 4)
        let replay = try ReplayInstrument(recording: recording, mode: .order)
        var configuration = recorder.configuration
        configuration.database = recorder.folder.appendingPathComponent("replay.sqlite").path
        // Another policy (a 3 x 2 raster of larger frames asks more than was recorded) and a model.
        configuration.policy = raster(columns: 3, rows: 2, pixels: 192)
        configuration.model = "se1"
        let daemon = try await Self.serving(replay) { runtime in
            configuration.feed = runtime.feedEndpoint
            configuration.control = runtime.controlEndpoint
            return try await DaemonHarness.run(configuration)
        }
        let session = try #require(daemon.status.session)
        let log = try DecisionLog(path: configuration.database)
        let row = try log.query("SELECT replays, status, end_reason FROM sessions WHERE id = ?", arguments: [session])
        let link = try JSONDecoder().decode(ReplayOrigin.self, from: Data(try #require(row.rows.first?[0]).utf8))
        #expect(link.session == recorded && link.mode == "order")
        #expect(link.log == URL(fileURLWithPath: recorder.configuration.database).standardizedFileURL.path)
        #expect(row.rows.first?[1] == "finished")
        #expect(row.rows.first?[2]?.contains("replay is over") == true, "\(row.rows.first?[2] ?? "-")")

        // Every replayed frame is a recorded one, pixel for pixel.
        let base = recorder.folder
        let replayed = try log.query(
            "SELECT source, pixels_files, model FROM frames WHERE session_id = ? ORDER BY id", arguments: [session])
        #expect(replayed.rows.count == 4)
        let original = try recorder.log().query(
            "SELECT driver_session, seq, pixels_files FROM frames WHERE session_id = ? ORDER BY id",
            arguments: [recorded])
        for (new, old) in zip(replayed.rows, original.rows) {
            #expect(new[0] == "session \(recorded), driver session \(old[0] ?? ""), seq \(old[1] ?? "")")
            #expect(try Self.pixels(of: new[1], base: base) == (try Self.pixels(of: old[2], base: base)))
            #expect(new[2] != nil, "the replay's own model analysed it")
        }
        // Every command has its decision; each scan's DONE notes how the recording differs.
        let orphans = try log.query(
            """
            SELECT COUNT(*) FROM commands c LEFT JOIN decisions d ON d.id = c.decision_id
            WHERE c.session_id = ? AND d.id IS NULL
            """, arguments: [session])
        #expect(orphans.rows.first?[0] == "0")
        let scans = try log.query(
            "SELECT status, readback, error FROM commands WHERE session_id = ? AND action = 'scan_region' ORDER BY sent_at",
            arguments: [session])
        #expect(scans.rows.filter { $0[0] == "done" }.count == 4)
        #expect(scans.rows.contains { $0[2]?.hasPrefix("recording_ended") == true })
        #expect(scans.rows.contains { $0[1]?.contains("not 4.8") == true }, "a note says the field differs")
        #expect(await replay.figures.served == 4)
    }

    @Test("--timing exact makes each scan last as long as the recorded one; fast never waits")
    func exactTimingKeepsRecordedDurations() async throws {
        var recorder = try await DaemonHarness(policy: raster(columns: 3, rows: 1, pixels: 128))
        recorder.configuration.storePixels = true
        defer { recorder.finish() }
        _ = try await recorder.run()
        let recording = try Recording.session(nil, in: recorder.configuration.database)
        let recorded = recording.frames.compactMap(\.acquisitionSeconds)
        #expect(recorded.count == 3 && recorded.allSatisfy { $0 > 0 }, "\(recorded)")

        let waits = Mutex<[Double]>([])
        let pacer: ReplayInstrument.Pacer = { seconds, _ in waits.withLock { $0.append(seconds) } }
        let asked = ScanGeometry(centerX: 0, centerY: 0, fovX: 5, width: 64, height: 64, dwell: 2, rotation: 0)
        let exact = try ReplayInstrument(recording: recording, mode: .order, timing: .exact, pace: pacer)
        for _ in recorded { _ = try await exact.acquire(ScanRequest(geometry: asked), purpose: .scan) }
        #expect(waits.withLock { $0 } == recorded, "each scan waits out its own recorded duration")

        let fast = try ReplayInstrument(recording: recording, mode: .order, timing: .fast, pace: pacer)
        for _ in recorded { _ = try await fast.acquire(ScanRequest(geometry: asked), purpose: .scan) }
        #expect(waits.withLock { $0 }.count == recorded.count, "fast timing never paces")

        // A folder's frames have no recorded duration: a scan lasts its dwell times its pixels.
        let (folder, _) = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let files = try Recording.folder(folder.path)
        let scan = try #require(files.frames.first?.scan)
        let fromFiles = try ReplayInstrument(recording: files, mode: .order, timing: .exact, pace: pacer)
        _ = try await fromFiles.acquire(ScanRequest(geometry: asked), purpose: .scan)
        #expect(waits.withLock { $0.last } == scan.dwell * 1e-6 * Double(scan.width * scan.height))
    }

    /// A folder with one 256 x 256 frame of counts at 0.25 Å/px centred at (`x`, `y`) nm.
    static func folder(x: Double = -120, y: Double = 60) throws -> (URL, Image) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-replay-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var random = SplitMix64(seed: 7)
        let image = Image(
            width: 256, height: 256, pixels: (0..<(256 * 256)).map { _ in Float(random.next() % 1000) })
        try TIFFFile.write(image, as: .uint16, to: folder.appendingPathComponent("a.tif"), pixelSize: 0.25)
        try "file,x_nm,y_nm\na.tif,\(x),\(y)\n".write(
            to: folder.appendingPathComponent("positions.csv"), atomically: true, encoding: .utf8)
        return (folder, image)
    }

    @Test("by region, a scan gets the covering frame cropped, or binned; an uncovered one is refused")
    func regionCropsAndRefuses() async throws {
        let (folder, image) = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let recording = try Recording.folder(folder.path)
        #expect(recording.positioned)
        let replay = try ReplayInstrument(recording: recording, mode: .region)
        // 64 x 64 px at the same 0.25 Å, 1 nm right of the frame's centre: 40 px.
        let asked = ScanGeometry(centerX: -119, centerY: 60, fovX: 1.6, width: 64, height: 64, dwell: 10)
        let frame = try await replay.acquire(ScanRequest(geometry: asked), purpose: .scan)
        let left = 128 + 40 - 32
        let top = 128 - 32
        let expected = (0..<64).flatMap { row in (0..<64).map { image.pixels[(top + row) * 256 + left + $0] } }
        #expect(frame.buffers[0].floats() == expected)
        #expect(abs(frame.scan.centerX - asked.centerX) < 0.01 && abs(frame.scan.centerY - asked.centerY) < 0.01)
        #expect(frame.source == "a.tif")
        #expect(frame.note == nil, "served as asked: \(frame.note ?? "")")

        // 0.5 Å pixels: 2 x 2 blocks summed, the dwell four times the recorded.
        let coarse = ScanGeometry(centerX: -120, centerY: 60, fovX: 3.2, width: 64, height: 64, dwell: 40)
        let binned = try await replay.acquire(ScanRequest(geometry: coarse), purpose: .scan)
        let first =
            image.pixels[64 * 256 + 64] + image.pixels[64 * 256 + 65] + image.pixels[65 * 256 + 64]
            + image.pixels[65 * 256 + 65]
        #expect(binned.buffers[0].floats()[0] == first)
        #expect(binned.scan.dwell == 40)
        #expect(binned.note?.contains("binned 2 x 2") == true)

        // Outside the frame, at a scale that is no whole multiple, or at another rotation: refused.
        for (geometry, words) in [
            (ScanGeometry(centerX: -100, centerY: 60, fovX: 1.6, width: 64, height: 64, dwell: 10), "beyond its edge"),
            (ScanGeometry(centerX: -120, centerY: 60, fovX: 2.4, width: 64, height: 64, dwell: 10), "whole multiple"),
            (
                ScanGeometry(centerX: -120, centerY: 60, fovX: 1.6, width: 64, height: 64, dwell: 10, rotation: 30),
                "rotation"
            ),
        ] {
            do {
                _ = try await replay.acquire(ScanRequest(geometry: geometry), purpose: .scan)
                Issue.record("\(geometry) was served")
            } catch let error as InstrumentError {
                #expect(error.code == ReasonCode.notRecorded)
                #expect(error.reason.contains(words) && error.reason.contains("a.tif"), "\(error.reason)")
            }
        }
        #expect(await replay.figures == ReplayInstrument.Tally(served: 2, differing: 1, refused: 3))
    }

    @Test("a folder of TIFFs plays as a microscope: a raster over it, through the daemon")
    func folderPlaysThroughTheDaemon() async throws {
        let (folder, _) = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let replay = try ReplayInstrument(recording: try Recording.folder(folder.path), mode: .region)
        let harness = try await DaemonHarness(policy: raster(columns: 2, rows: 2, pixels: 128))
        defer { harness.finish() }
        var configuration = harness.configuration
        let daemon = try await Self.serving(replay) { runtime in
            configuration.feed = runtime.feedEndpoint
            configuration.control = runtime.controlEndpoint
            return try await DaemonHarness.run(configuration)
        }
        let session = try #require(daemon.status.session)
        let log = try harness.log()
        let frames = try log.query("SELECT source FROM frames WHERE session_id = ?", arguments: [session])
        #expect(frames.rows.count == 4 && frames.rows.allSatisfy { $0[0] == "a.tif" })
        let link = try log.query("SELECT replays FROM sessions WHERE id = ?", arguments: [session])
        #expect(link.rows.first?[0]?.contains("\"folder\"") == true)
        #expect(link.rows.first?[0]?.contains("\"mode\":\"region\"") == true)
    }

    @Test("a folder without positions serves in order only; a broken positions CSV says which line")
    func folderErrors() throws {
        let (folder, _) = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let csv = folder.appendingPathComponent("positions.csv")
        try FileManager.default.removeItem(at: csv)
        let unpositioned = try Recording.folder(folder.path)
        #expect(!unpositioned.positioned && unpositioned.frames.count == 1)
        #expect(throws: ReplayError.self) { try ReplayInstrument(recording: unpositioned, mode: .region) }
        for (text, words) in [
            ("file,x_nm,z\na.tif,1,2\n", "unknown column 'z'"),
            ("file,x_nm,y_nm\na.tif,one,2\n", "line 2: x_nm 'one' is not a finite number"),
            ("file,x_nm\na.tif,1\n", "both x_nm and y_nm"),
            ("file,x_nm,y_nm\na.tif,1\n", "line 2: 2 fields"),
            ("file,x_nm,y_nm\nmissing.tif,1,2\n", "missing.tif"),
        ] {
            try text.write(to: csv, atomically: true, encoding: .utf8)
            do {
                _ = try Recording.folder(folder.path)
                Issue.record("\(text) was accepted")
            } catch {
                #expect(String(describing: error).contains(words), "\(error)")
            }
        }
        #expect(throws: ReplayError.self) { try Recording.folder(folder.appendingPathComponent("nothing").path) }
    }

    @Test("a folder of Gatan files without a CSV takes each file's stage position and pixel size")
    func folderPositionsFromMetadata() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-replay-dm-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/formats/rosettasciio/test_STEM_image.dm3")
        try FileManager.default.copyItem(at: fixture, to: folder.appendingPathComponent("a.dm3"))
        let recording = try Recording.folder(folder.path)
        #expect(recording.positioned)
        let frame = try #require(recording.frames.first)
        #expect(abs(frame.scan.centerX - -461_276) < 0.01 && abs(frame.scan.centerY - 52_003.9) < 0.01)
        let calibration = try #require(try ImageFile.contents(of: fixture).calibration)
        #expect(abs(frame.scan.pixelSizeX * 10 - calibration.angstrom) < 1e-9)
        _ = try ReplayInstrument(recording: recording, mode: .region)
    }

    @Test("a log whose session kept no pixels is refused with what to do")
    func sessionWithoutPixels() async throws {
        let harness = try await DaemonHarness(policy: raster(columns: 1, rows: 1, pixels: 128))
        defer { harness.finish() }
        _ = try await harness.run()
        do {
            _ = try Recording.session(nil, in: harness.configuration.database)
            Issue.record("a session without pixels was accepted")
        } catch {
            #expect(String(describing: error).contains("--store-pixels"), "\(error)")
        }
        do {
            _ = try Recording.session("s-none", in: harness.configuration.database)
            Issue.record("an unknown session was accepted")
        } catch {
            #expect(String(describing: error).contains("no session s-none"), "\(error)")
        }
    }
}
