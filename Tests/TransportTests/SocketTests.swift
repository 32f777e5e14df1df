import Foundation
import Testing
import Transport
import WireProtocol

@Suite("ZeroMQ socket actor")
struct SocketTests {
    @Test("a multipart message crosses a DEALER/ROUTER pair intact, zero-copy on receipt")
    func multipartRoundTrip() async throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(.router, context: context, name: "router")
        let bound = try await router.bind(loopback)
        let dealer = try ZMQSocket(.dealer, context: context, name: "dealer")
        try await dealer.connect(bound)
        let big = [UInt8]((0..<1_000_000).map { UInt8($0 % 251) })
        try await dealer.send([Array("head".utf8), big, [UInt8]()], timeout: .seconds(5))
        let parts = try await router.receive(timeout: .seconds(5))
        #expect(parts.count == 4)  // routing id + 3
        #expect(parts[1].equals(utf8: "head"))
        #expect(parts[2].byteCount == big.count)
        #expect(parts[2].bytes == big)
        #expect(parts[3].byteCount == 0)
        await dealer.close()
        await router.close()
    }

    @Test("receive gives up at its timeout")
    func receiveTimeout() async throws {
        let socket = try ZMQSocket(.dealer, context: try ZMQContext(), name: "lonely")
        let start = ContinuousClock.now
        await #expect(throws: TransportError.self) { try await socket.receive(timeout: .milliseconds(50)) }
        #expect(ContinuousClock.now - start >= .milliseconds(45))
        await socket.close()
    }

    @Test("a waiting receive ends when its task is cancelled")
    func cancellation() async throws {
        let socket = try ZMQSocket(.dealer, context: try ZMQContext(), name: "cancelled")
        let waiting = Task { try await socket.receive() }
        try await Task.sleep(for: .milliseconds(20))
        waiting.cancel()
        do {
            _ = try await waiting.value
            Issue.record("receive returned without a message")
        } catch let error as TransportError {
            #expect(error.code == .cancelled)
        }
        await socket.close()
    }

    @Test("closing a socket wakes its waiters with `closed`, and later calls fail the same way")
    func closeWhileWaiting() async throws {
        let socket = try ZMQSocket(.dealer, context: try ZMQContext(), name: "closing")
        let waiting = Task { try await socket.receive() }
        try await Task.sleep(for: .milliseconds(20))
        await socket.close()
        do {
            _ = try await waiting.value
            Issue.record("receive returned without a message")
        } catch let error as TransportError {
            #expect(error.code == .closed)
        }
        await #expect(throws: TransportError.self) { try await socket.send([[UInt8](arrayLiteral: 1)]) }
    }

    @Test("a DEALER with no driver behind it times out instead of queueing forever")
    func sendWithoutPeer() async throws {
        var options = SocketOptions()
        options.immediate = true
        let socket = try ZMQSocket(.dealer, context: try ZMQContext(), options: options, name: "nobody")
        try await socket.connect(try Endpoint("tcp://127.0.0.1:1"))
        await #expect(throws: TransportError.self) {
            try await socket.send([[UInt8](arrayLiteral: 1)], timeout: .milliseconds(50))
        }
        await socket.close()
    }

    @Test("sockets send no ZMTP heartbeats by default (libzmq#3937 aborts on their timeout when a queue is full)")
    func noZMTPHeartbeats() {
        #expect(SocketOptions().heartbeatInterval == nil)
    }

    @Test("many concurrent waits and sends on one socket stay consistent")
    func concurrentUse() async throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(.router, context: context, name: "router")
        let bound = try await router.bind(loopback)
        let dealer = try ZMQSocket(.dealer, context: context, name: "dealer")
        try await dealer.connect(bound)
        let count = 500
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<count {
                group.addTask { try await dealer.send([Array("\(index)".utf8)], timeout: .seconds(5)) }
            }
            try await group.waitForAll()
        }
        var seen = Set<String>()
        for _ in 0..<count {
            let parts = try await router.receive(timeout: .seconds(5))
            seen.insert(String(decoding: parts[1].bytes, as: UTF8.self))
        }
        #expect(seen.count == count)
        await dealer.close()
        await router.close()
    }
}

@Suite("Socket resources")
struct SocketResourceTests {
    /// Threads of this process whose name starts with `prefix` (Linux truncates names to 15 bytes).
    static func threads(named prefix: String) -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.filter { task in
            let name = (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)) ?? ""
            return name.hasPrefix(prefix)
        }.count
    }

    @Test("sockets that are closed and dropped give their threads back")
    func threadsAreReleased() async throws {
        let context = try ZMQContext()
        var peak = 0
        for index in 0..<100 {
            let socket = try ZMQSocket(.dealer, context: context, name: "churn\(index)")
            try await socket.connect(try Endpoint("tcp://127.0.0.1:1"))
            await #expect(throws: TransportError.self) { try await socket.receive(timeout: .milliseconds(1)) }
            peak = max(peak, Self.threads(named: "zmq-churn"))
            await socket.close()
        }
        #expect(peak >= 1, "the socket threads should be visible while the sockets live")
        var left = Self.threads(named: "zmq-churn")
        for _ in 0..<100 where left > 0 {
            try await Task.sleep(for: .milliseconds(20))
            left = Self.threads(named: "zmq-churn")
        }
        #expect(left == 0, "\(left) socket threads still running after their sockets were dropped")
    }
}
