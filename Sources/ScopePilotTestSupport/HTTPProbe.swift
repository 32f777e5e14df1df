import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.1 client on a plain TCP socket, for tests of the live view: a GET read to its
/// end, server-sent events read one by one, or a connection that stops reading (a stuck browser).
/// Its blocking calls run on a thread of their own, never on the cooperative pool.
public final class HTTPProbe: @unchecked Sendable {
    // @unchecked Sendable: the socket is used by one call at a time (each test drives its probe
    // sequentially), and `close()` only shuts it down.
    private let socket: Int32
    private var buffered = Data()

    /// A problem talking to the server.
    public struct Failure: Error, CustomStringConvertible {
        /// What went wrong.
        public let description: String
    }

    /// Connects to `127.0.0.1:port`; `receiveBuffer` shrinks the socket's receive buffer (bytes).
    public init(port: Int, receiveBuffer: Int? = nil) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        if var size = receiveBuffer.map(Int32.init) {
            setsockopt(socket, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            Glibc.close(socket)
            throw Failure(description: "connect to 127.0.0.1:\(port): errno \(errno)")
        }
    }

    deinit { Glibc.close(socket) }

    /// Sends `GET path` with `host` as its Host header (the connection closes after the answer).
    public func sendGet(_ path: String, host: String = "127.0.0.1") throws {
        let request = "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\nAccept: */*\r\n\r\n"
        let sent = request.utf8CString.withUnsafeBufferPointer { send(socket, $0.baseAddress, $0.count - 1, 0) }
        guard sent == request.utf8.count else { throw Failure(description: "send: errno \(errno)") }
    }

    /// GET `path`: the status code and body (read to the end of the connection).
    public static func get(
        port: Int, _ path: String, host: String = "127.0.0.1"
    ) async throws -> (
        status: Int, body: String
    ) {
        try await onThread {
            let probe = try HTTPProbe(port: port)
            try probe.sendGet(path, host: host)
            var all = Data()
            while let chunk = probe.receive() { all += chunk }
            let text = String(decoding: all, as: UTF8.self)
            guard let headEnd = text.range(of: "\r\n\r\n"),
                let status = text.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
            else { throw Failure(description: "not an HTTP answer: \(text.prefix(200))") }
            var body = String(text[headEnd.upperBound...])
            if text[..<headEnd.lowerBound].lowercased().contains("transfer-encoding: chunked") {
                body = Self.unchunked(body)
            }
            return (status, body)
        }
    }

    /// Reads server-sent events after ``sendGet(_:host:)`` until `count` `data:` payloads came (or
    /// the stream ended).
    public func events(_ count: Int) async throws -> [String] {
        try await Self.onThread { [self] in
            var events: [String] = []
            while events.count < count {
                if let range = buffered.range(of: Data("\n\n".utf8)) {
                    let block = String(decoding: buffered[..<range.lowerBound], as: UTF8.self)
                    buffered.removeSubrange(..<range.upperBound)
                    // Chunked framing lines (hex sizes) are not `data:` lines and are skipped.
                    for line in block.split(separator: "\n") where line.hasPrefix("data: ") {
                        events.append(String(line.dropFirst(6)).trimmingCharacters(in: .whitespacesAndNewlines))
                    }
                    continue
                }
                guard let chunk = receive() else { break }
                buffered += chunk.filter { $0 != UInt8(ascii: "\r") }
            }
            return events
        }
    }

    /// Stops the connection both ways.
    public func close() { shutdown(socket, Int32(SHUT_RDWR)) }

    private func receive() -> Data? {
        var bytes = [UInt8](repeating: 0, count: 65_536)
        let count = recv(socket, &bytes, bytes.count, 0)
        return count > 0 ? Data(bytes[..<count]) : nil
    }

    private static func unchunked(_ body: String) -> String {
        var out = ""
        var rest = Substring(body)
        while let lineEnd = rest.range(of: "\r\n"), let size = Int(rest[..<lineEnd.lowerBound], radix: 16), size > 0 {
            let start = lineEnd.upperBound
            let bytes = Array(rest[start...].utf8)
            out += String(decoding: bytes.prefix(size), as: UTF8.self)
            rest = Substring(String(decoding: bytes.dropFirst(size), as: UTF8.self)).dropFirst(2)
        }
        return out
    }

    /// Runs `body` on a thread of its own.
    static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }
}
