import ArgumentParser
import DecisionLog
import Foundation

/// `scopepilot log`: review sessions in a decision log.
struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log", abstract: "Review the sessions in a decision log.",
        discussion: "The schema and example queries (sqlite3, pandas) are in docs/LOG.md.",
        subcommands: [Sessions.self, Show.self, Decisions.self, Export.self])

    struct Options: ParsableArguments {
        @Option(help: "The decision log.") var db = "scopepilot.sqlite"

        func open() throws -> DecisionLog {
            guard FileManager.default.fileExists(atPath: db) else {
                throw ValidationError("no decision log at \(db); give its path with --db")
            }
            do { return try DecisionLog(path: db) } catch { throw ValidationError("\(error)") }
        }

        func session(_ id: String, in log: DecisionLog) throws -> String {
            let all = try log.sessions().column("session").compactMap { $0 }
            if all.contains(id) { return id }
            if id == "latest", let newest = all.first { return newest }
            let matches = all.filter { $0.hasPrefix(id) || $0.hasSuffix(id) }
            if matches.count == 1 { return matches[0] }
            throw ValidationError(
                matches.isEmpty
                    ? "no session \(id) in \(db); 'scopepilot log sessions' lists them"
                    : "\(id) matches \(matches.count) sessions: \(matches.joined(separator: ", "))")
        }
    }

    struct Sessions: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the sessions, newest first.")
        @OptionGroup var options: Options
        func run() throws {
            print(TextTable.render(try options.open().sessions()))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One session: policy, instrument, and what happened (SESSION may be 'latest').")
        @OptionGroup var options: Options
        @Argument(help: "Session id, a unique part of it, or 'latest'.") var session: String
        func run() throws {
            let log = try options.open()
            let id = try options.session(session, in: log)
            let row = try log.session(id)
            for (index, column) in row.columns.enumerated() {
                var value = row.rows.first?[index] ?? "-"
                if column.hasSuffix("_at"), let seconds = Double(value) {
                    value = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: seconds))
                }
                print("\(column.padding(toLength: 18, withPad: " ", startingAt: 0)) \(value)")
            }
            let figures = try log.sessionFigures(id)
            print("")
            for (index, column) in figures.columns.enumerated() {
                print(
                    "\(column.padding(toLength: 26, withPad: " ", startingAt: 0)) \(figures.rows.first?[index] ?? "-")")
            }
        }
    }

    struct Decisions: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A session's decisions in order: action, reason, and what became of the command.")
        @OptionGroup var options: Options
        @Argument(help: "Session id, a unique part of it, or 'latest'.") var session: String
        @Flag(help: "Show each decision's latency breakdown too.") var latency = false
        func run() throws {
            let log = try options.open()
            var table = try log.decisions(session: options.session(session, in: log))
            if !latency, let index = table.columns.firstIndex(of: "latency") {
                table.columns.remove(at: index)
                table.rows = table.rows.map {
                    var row = $0; row.remove(at: index); return row
                }
            }
            print(TextTable.render(table, widest: 90))
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a session as CSV files, one JSON document, a Zarr store or Bluesky documents.",
            discussion: """
                json: every table, typed. csv: one file per table (--out FOLDER). zarr: a Zarr store (--out \
                PATH.zarr) with the frames' pixels (from the frames of record) and metadata per frame \
                configuration, detections, communities and decisions, which zarr-python and xarray open. \
                bluesky: event-model documents, one [name, document] per line (start, descriptors, \
                resources and datums for the frames of record, events, stop), as databroker and tiled ingest.
                """)
        @OptionGroup var options: Options
        @Argument(help: "Session id, a unique part of it, or 'latest'.") var session: String
        @Option(help: "json, csv, zarr or bluesky.") var format = "json"
        @Option(
            help:
                "Folder for CSV files (one per table), the Zarr store, or the JSON/JSONL file; default: standard output for JSON and Bluesky."
        )
        var out: String?

        static let tables = [
            "sessions", "frames", "detections", "communities", "drift", "condition_scores", "decisions", "commands",
            "retraining_events", "rejected_inputs", "lost_frames", "observations",
        ]

        func validate() throws {
            guard ["csv", "json", "zarr", "bluesky"].contains(format) else {
                throw ValidationError("--format is json, csv, zarr or bluesky")
            }
            if format == "csv" && out == nil {
                throw ValidationError("CSV export writes one file per table: give --out FOLDER")
            }
            if format == "zarr" && out == nil {
                throw ValidationError("a Zarr store is a folder: give --out PATH.zarr")
            }
        }

        func run() throws {
            let log = try options.open()
            let id = try options.session(session, in: log)
            let root = URL(fileURLWithPath: log.path).standardizedFileURL.deletingLastPathComponent()
            if format == "zarr" {
                let url = URL(fileURLWithPath: out ?? "\(id).zarr", isDirectory: true)
                let pixels: Int
                do { pixels = try ZarrExport.write(log: log, session: id, root: root, to: url) } catch {
                    throw ValidationError("\(error)")
                }
                print("wrote \(url.path) (\(pixels) frames with their pixels)")
                return
            }
            if format == "bluesky" {
                let data = try BlueskyExport.jsonl(BlueskyExport.documents(log: log, session: id, root: root.path))
                if let out {
                    try data.write(to: URL(fileURLWithPath: out))
                    print("wrote \(out)")
                } else {
                    FileHandle.standardOutput.write(data)
                }
                return
            }
            var tables: [(String, LogTable)] = []
            for name in Self.tables { tables.append((name, try log.export(session: id, table: name))) }
            if format == "csv" {
                let folder = URL(fileURLWithPath: out ?? id, isDirectory: true)
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                for (name, table) in tables {
                    try TextTable.csv(table).write(
                        to: folder.appendingPathComponent("\(name).csv"), atomically: true, encoding: .utf8)
                }
                print("wrote \(tables.count) CSV files to \(folder.path)")
            } else {
                let data = Data(LogJSONExport.document(tables.map { (name: $0.0, table: $0.1) }))
                if let out {
                    try data.write(to: URL(fileURLWithPath: out))
                    print("wrote \(out)")
                } else {
                    print(String(decoding: data, as: UTF8.self))
                }
            }
        }
    }
}

/// Plain-text tables and CSV for review output.
enum TextTable {
    static func render(_ table: LogTable, widest: Int = 40) -> String {
        func cell(_ value: String?) -> String {
            let text = (value ?? "-").replacingOccurrences(of: "\n", with: " ")
            return text.count > widest ? String(text.prefix(widest - 1)) + "…" : text
        }
        let cells = table.rows.map { $0.map(cell) }
        let widths = table.columns.indices.map { column in
            max(table.columns[column].count, cells.map { $0[column].count }.max() ?? 0)
        }
        func line(_ values: [String]) -> String {
            zip(values, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }
        return ([line(table.columns)] + cells.map(line)).joined(separator: "\n")
    }

    static func csv(_ table: LogTable) -> String {
        func quote(_ value: String?) -> String {
            guard let value else { return "" }
            guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return value }
            return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return
            ([table.columns.map(quote).joined(separator: ",")]
            + table.rows.map { $0.map(quote).joined(separator: ",") }).joined(separator: "\n") + "\n"
    }
}
