import ArgumentParser
import Foundation
import InstrumentDriver
import ReplayDriver
import WireProtocol

/// `scopepilot replay`: a recorded session, or a folder of frames, served as a microscope.
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Serve a recorded session, or a folder of your own frames, as a microscope (the replay driver).",
        discussion: """
            The same protocol and endpoints as `scopepilot sim`: point `scopepilot run` (any policy, any \
            model) at it. SOURCE is a decision log (the session recorded with --store-pixels; the newest \
            unless --session) or a folder of image files (any format `detect` reads; each page of a series \
            is a frame), with stage positions and settings from --positions CSV (default: the folder's \
            positions.csv): columns file, x_nm, y_nm and optionally pixel_size_angstrom, rotation_deg, \
            dwell_us, channel, frame (rows with one frame value are that frame's channels).

            --mode order answers each scan with the next recorded frame (the DONE's note says where it \
            differs from what was asked; the session ends, finished, after the last). --mode region answers \
            each scan with the recorded frame that covers the asked region, cropped, and binned where the \
            asked pixels are a whole multiple of the recorded; a region no frame covers is refused with \
            reason code not_recorded. Every served frame's header names its recorded frame (frames.source \
            in the log), and the replayed session's row names what it replays (sessions.replays).
            """)

    @Argument(help: "A decision log (.sqlite) or a folder of image files.") var source: String
    @Option(help: "The recorded session's id (default: the log's newest).") var session: String?
    @Option(
        help: "How scans are answered: order (the recorded frames in turn) or region (the frame covering the region).")
    var mode = ReplayInstrument.Mode.order.rawValue
    @Option(help: "exact: each scan takes as long as its recorded frame took; fast: as fast as frames are read.")
    var timing = ReplayInstrument.Timing.fast.rawValue
    @Option(help: "A folder's positions CSV (default: FOLDER/positions.csv when present).") var positions: String?
    @Option(help: "Pixel size, Å, of a folder's files that state none.") var pixelSize: Double?
    @Option(help: "Channel name of a folder's files the CSV names none for.") var channel = "HAADF"
    @Option(help: "Dwell, µs, of a folder's files the CSV gives none for.") var dwell = 10.0
    @OptionGroup var driver: DriverOptions

    func validate() throws {
        guard ReplayInstrument.Mode(rawValue: mode) != nil else {
            throw ValidationError("--mode is order or region, not '\(mode)'")
        }
        guard ReplayInstrument.Timing(rawValue: timing) != nil else {
            throw ValidationError("--timing is exact or fast, not '\(timing)'")
        }
        if let pixelSize, !(pixelSize > 0 && pixelSize.isFinite) {
            throw ValidationError("--pixel-size must be a positive number of Å")
        }
        guard dwell > 0, dwell.isFinite else { throw ValidationError("--dwell must be a positive number of µs") }
    }

    func run() async throws {
        let recording = try Self.recording(
            source, session: session, positions: positions, pixelSize: pixelSize, channel: channel, dwell: dwell)
        for skipped in recording.skipped { FileHandle.standardError.write(Data("skipped: \(skipped)\n".utf8)) }
        let instrument: ReplayInstrument
        do {
            instrument = try ReplayInstrument(
                recording: recording, mode: ReplayInstrument.Mode(rawValue: mode) ?? .order,
                timing: ReplayInstrument.Timing(rawValue: timing) ?? .fast)
        } catch {
            throw ValidationError(error.description)
        }
        let what =
            recording.origin.session.map { "session \($0) of \(recording.origin.log ?? source)" }
            ?? "the folder \(recording.origin.folder ?? source)"
        try await DriverOptions.serve(instrument, configuration: try driver.configuration(), label: "scopepilot.replay")
        {
            runtime in
            print(
                "replay driver: \(recording.frames.count) frames of \(what), by \(mode), \(timing) timing; "
                    + "feed \(runtime.feedEndpoint), commands \(runtime.controlEndpoint), session \(await runtime.session)"
            )
        }
        let figures = await instrument.figures
        print(
            "stopped: \(figures.served) frames served (\(figures.differing) differing from what was asked), "
                + "\(figures.refused) scans refused")
    }

    /// The recording `source` names: a decision log's session, or a folder.
    static func recording(
        _ source: String, session: String?, positions: String?, pixelSize: Double?, channel: String, dwell: Double
    ) throws -> Recording {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isFolder) else {
            throw ValidationError("\(source) does not exist: give a decision log or a folder of image files")
        }
        do {
            if isFolder.boolValue {
                guard session == nil else { throw ValidationError("--session is for a decision log, not a folder") }
                var settings = Recording.FolderSettings()
                settings.positions = positions
                settings.pixelSize = pixelSize
                settings.channel = channel
                settings.dwell = dwell
                return try Recording.folder(source, settings: settings)
            }
            guard positions == nil, pixelSize == nil else {
                throw ValidationError("--positions and --pixel-size are for a folder; a recorded session has its own")
            }
            return try Recording.session(session, in: source)
        } catch let error as ReplayError {
            throw ValidationError(error.description)
        }
    }
}
