import DecisionLog
import Foundation
import WireProtocol

/// A session's tables as one JSON document: `{"table": [{"column": value, ...}, ...], ...}`, with
/// numbers as numbers, NULL as null, and the log's JSON columns (a scan, a chosen action, a
/// readback, an observation) as the objects they hold, so that pandas and jq read it typed.
enum LogJSONExport {
    /// Columns that hold JSON the daemon wrote.
    static let jsonColumns: Set<String> = [
        "scan", "candidates", "chosen", "latency", "input_frames", "readback", "policy_parameters", "instrument",
        "metrics", "estimate", "statistics", "metadata", "optics", "chip_grid", "pixels_files", "observation",
        "replays",
    ]

    /// The document, one row per line.
    static func document(_ tables: [(name: String, table: LogTable)]) -> [UInt8] {
        var out: [UInt8] = []
        out.append(UInt8(ascii: "{"))
        for (index, (name, table)) in tables.sorted(by: { $0.name < $1.name }).enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\n"))
            JSONWriter.writeString(name, into: &out)
            out.append(contentsOf: ": [".utf8)
            for (rowIndex, row) in table.values.enumerated() {
                out.append(contentsOf: (rowIndex == 0 ? "\n  {" : ",\n  {").utf8)
                for (column, (key, value)) in zip(table.columns, row).enumerated() {
                    if column > 0 { out.append(UInt8(ascii: ",")) }
                    JSONWriter.writeString(key, into: &out)
                    out.append(UInt8(ascii: ":"))
                    write(value, json: jsonColumns.contains(key), into: &out)
                }
                out.append(UInt8(ascii: "}"))
            }
            out.append(contentsOf: (table.values.isEmpty ? "]" : "\n]").utf8)
        }
        out.append(contentsOf: "\n}\n".utf8)
        return out
    }

    private static func write(_ value: LogValue, json: Bool, into out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .integer(let v): out.append(contentsOf: String(v).utf8)
        case .real(let v) where v.isFinite: out.append(contentsOf: "\(v)".utf8)
        case .real: out.append(contentsOf: "null".utf8)
        case .text(let text) where json && isJSON(text): out.append(contentsOf: text.utf8)
        case .text(let text): JSONWriter.writeString(text, into: &out)
        case .blob(let count): JSONWriter.writeString("<\(count) bytes>", into: &out)
        }
    }

    /// Whether `text` is a JSON value (the daemon wrote it; a log edited by hand may hold anything).
    private static func isJSON(_ text: String) -> Bool {
        guard let first = text.utf8.first(where: { $0 != 0x20 }) else { return false }
        guard first == UInt8(ascii: "{") || first == UInt8(ascii: "[") || first == UInt8(ascii: "\"") else {
            return text == "null" || Double(text) != nil
        }
        return (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) != nil
    }
}
