import ArgumentParser
import DecisionLog
import Foundation

/// `scopepilot report`: one session as a self-contained HTML page.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Write a session's report: one self-contained HTML page.",
        discussion: """
            DIR/index.html has the stage map (every region where it was, coloured by its dose, its \
            detections and communities, the order of visits; zoomable), the dose map, the timeline of \
            decisions with their reasons and outcomes, drift and condition score over time with the \
            retrainings, the latency per stage, thumbnails with their detections, and the summary. It \
            loads nothing from the network: open it anywhere, mail it, keep it with the data.
            """)

    @OptionGroup var options: LogCommand.Options
    @Argument(help: "Session id, a unique part of it, or 'latest'.") var session: String
    @Option(help: "Folder for index.html (created).") var out: String
    @Option(help: "Frames shown as thumbnails at most (spread over the session).") var thumbnails = 48

    func validate() throws {
        guard (0...10_000).contains(thumbnails) else { throw ValidationError("--thumbnails is 0 to 10000") }
    }

    func run() throws {
        let log = try options.open()
        let id = try options.session(session, in: log)
        let started = ContinuousClock.now
        let recordings = try SessionRecordings.read(log, session: id, thumbnails: thumbnails)
        let page = SessionReportPage(recordings: recordings).html()
        let folder = URL(fileURLWithPath: out, isDirectory: true)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let file = folder.appendingPathComponent("index.html")
        try page.write(to: file, atomically: true, encoding: .utf8)
        let seconds = (ContinuousClock.now - started).milliseconds / 1000
        print(
            String(
                format: "wrote %@ (%d frames, %d decisions, %.1f MB) in %.1f s", file.path, recordings.frames.count,
                recordings.decisions.count, Double(page.utf8.count) / 1e6, seconds))
    }
}
