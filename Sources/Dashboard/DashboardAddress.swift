import Foundation

/// Where the live view listens: `HOST:PORT`, `:PORT` or `PORT` (the last two on loopback).
/// Port 0 asks the system for a free port (the one chosen is printed).
public struct DashboardAddress: Sendable, Hashable, CustomStringConvertible {
    /// The host or IP address to bind (`127.0.0.1`, `::1`, `0.0.0.0`, a name).
    public let host: String
    /// The TCP port (0: any free one).
    public let port: Int

    /// Parses `text`; IPv6 addresses go in brackets (`[::1]:8080`).
    public init(_ text: String) throws(DashboardError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var host = "127.0.0.1"
        var portText = trimmed
        if trimmed.hasPrefix("[") {
            guard let close = trimmed.firstIndex(of: "]") else {
                throw DashboardError("--dashboard \(text): an IPv6 address needs its closing bracket, e.g. [::1]:8080")
            }
            host = String(trimmed[trimmed.index(after: trimmed.startIndex)..<close])
            let rest = trimmed[trimmed.index(after: close)...]
            guard rest.hasPrefix(":") else {
                throw DashboardError("--dashboard \(text): give a port after the address, e.g. [::1]:8080")
            }
            portText = String(rest.dropFirst())
        } else if let colon = trimmed.lastIndex(of: ":") {
            let given = String(trimmed[..<colon])
            if !given.isEmpty { host = given }
            portText = String(trimmed[trimmed.index(after: colon)...])
        }
        guard !host.contains(" "), !host.contains("/") else {
            throw DashboardError("--dashboard \(text): '\(host)' is not a host name or address")
        }
        guard let port = Int(portText), (0...65_535).contains(port) else {
            throw DashboardError(
                "--dashboard \(text): the port must be a number from 0 to 65535 (0: any free port), "
                    + "as in 127.0.0.1:8080 or :8080")
        }
        self.host = host
        self.port = port
    }

    /// A loopback address: only this machine can connect.
    public var isLoopback: Bool { Self.isLoopback(host) }

    /// Whether `host` names this machine's loopback interface.
    static func isLoopback(_ host: String) -> Bool {
        let name = host.lowercased()
        return name == "localhost" || name == "::1" || name == "0:0:0:0:0:0:0:1" || name.hasPrefix("127.")
    }

    /// The host of a Host header (`[::1]:8080` -> `::1`, `localhost:8080` -> `localhost`).
    static func host(ofAuthority authority: String) -> String {
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            return String(authority[authority.index(after: authority.startIndex)..<close])
        }
        return authority.split(separator: ":").first.map(String.init) ?? authority
    }

    /// `HOST:PORT`.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
