/// A ZeroMQ endpoint, e.g. `tcp://127.0.0.1:5555`, `ipc:///tmp/feed`, `inproc://feed`.
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    /// The endpoint as libzmq takes it.
    public let text: String
    /// `tcp`, `ipc` or `inproc`.
    public let scheme: String
    /// For tcp: the host or interface part (`127.0.0.1`, `*`, `[::1]`, `lo`); empty otherwise.
    public let host: String

    /// Parses an endpoint, refusing anything libzmq would not take for ScopePilot's use.
    public init(_ text: String) throws(TransportError) {
        let pieces = text.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
        guard pieces.count == 2, !pieces[1].isEmpty else {
            throw TransportError(
                code: .invalidEndpoint,
                message: "'\(text)' is not an endpoint; write e.g. tcp://127.0.0.1:5555, ipc:///tmp/scopepilot-feed")
        }
        let scheme = String(pieces[0])
        let address = String(pieces[1])
        switch scheme {
        case "tcp":
            guard let colon = address.lastIndex(of: ":"),
                address[address.index(after: colon)...] == "*"
                    || UInt16(address[address.index(after: colon)...]) != nil
            else {
                throw TransportError(
                    code: .invalidEndpoint,
                    message: "'\(text)' has no port; write e.g. tcp://127.0.0.1:5555 (or :* for any free port)")
            }
            host = String(address[..<colon])
            guard !host.isEmpty else {
                throw TransportError(
                    code: .invalidEndpoint, message: "'\(text)' has no host; write e.g. tcp://127.0.0.1:5555")
            }
        case "ipc", "inproc":
            host = ""
        default:
            throw TransportError(
                code: .invalidEndpoint,
                message: "'\(text)': scheme '\(scheme)' is not supported; use tcp://, ipc:// or inproc://")
        }
        self.scheme = scheme
        self.text = text
    }

    /// Whether traffic on this endpoint stays on this machine: inproc, ipc, and tcp on a loopback
    /// address (127.0.0.0/8, ::1, localhost, the `lo` interface).
    public var isLocal: Bool {
        guard scheme == "tcp" else { return true }
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if bare == "localhost" || bare == "::1" || bare == "lo" { return true }
        let octets = bare.split(separator: ".")
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    public var description: String { text }
}
