public import Foundation

/// The executables built beside the test bundle, and facts about running processes.
public enum BuiltProducts {
    /// The built `scopepilot` executable (the test bundle and the executables are built into the
    /// same folder).
    public static let scopepilot: URL = {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var folder = here.deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: folder.appendingPathComponent("scopepilot").path),
            folder.path != "/"
        {
            folder = folder.deletingLastPathComponent()
        }
        return folder.appendingPathComponent("scopepilot")
    }()

    /// The resident memory of process `pid` (nil: this process), in bytes; nil when it has gone.
    public static func residentBytes(of pid: Int32? = nil) -> Int? {
        let path = "/proc/\(pid.map { "\($0)" } ?? "self")/status"
        guard let status = try? String(contentsOfFile: path, encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { return nil }
        return kilobytes * 1024
    }
}
