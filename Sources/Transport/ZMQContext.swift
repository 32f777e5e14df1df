import CZeroMQ
import Foundation
import Synchronization

/// A ZeroMQ context: the I/O threads behind a set of sockets, and the scope of `inproc://`
/// endpoints and of the ZAP authenticator.
///
/// Create one per process and keep it for the process's life. When the last socket that uses it is
/// gone the context is terminated on a thread of its own, which waits up to each socket's linger
/// for queued messages to be delivered; call ``terminate()`` at shutdown to wait for that.
public final class ZMQContext: @unchecked Sendable {
    // @unchecked Sendable: the handle is immutable and libzmq documents contexts as thread safe;
    // termination is guarded by `terminated`.
    let handle: UnsafeMutableRawPointer
    private let terminated = Terminated()
    private let zap = Mutex<WeakAuthenticator>(WeakAuthenticator())

    private struct WeakAuthenticator: ~Copyable {
        weak var value: ZAPAuthenticator?
    }

    /// The running ZAP authenticator, or a new one made by `make`.
    func authenticator(_ make: () throws(TransportError) -> ZAPAuthenticator) throws(TransportError) -> ZAPAuthenticator
    {
        try zap.withLock { (box) throws(TransportError) -> ZAPAuthenticator in
            if let running = box.value { return running }
            let made = try make()
            box.value = made
            return made
        }
    }

    /// Creates a context with one I/O thread (enough for a few GB/s on loopback). Fails only when
    /// the process is out of memory or file descriptors.
    public init(ioThreads: Int = 1) throws(TransportError) {
        guard let handle = zmq_ctx_new() else {
            throw .zmq("creating the ZeroMQ context (out of memory or file descriptors?)")
        }
        zmq_ctx_set(handle, ZMQ_IO_THREADS, Int32(ioThreads))
        zmq_ctx_set(handle, ZMQ_BLOCKY, 0)
        self.handle = handle
    }

    /// Waits until every socket of this context is closed and has flushed what it queued (up to
    /// its linger), then frees the context. Blocks the calling thread; call it once at shutdown,
    /// after closing the sockets, from outside Swift's cooperative pool (e.g. at the end of `main`).
    public func terminate() {
        guard terminated.claim() else { return }
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }

    deinit {
        guard terminated.claim() else { return }
        // zmq_ctx_term blocks for up to the sockets' linger: never on the caller's thread, which
        // may belong to the cooperative pool.
        let handle = UncheckedPointer(handle)
        Thread.detachNewThread { while zmq_ctx_term(handle.pointer) != 0 && zmq_errno() == EINTR {} }
    }

    /// The library's version, e.g. "4.3.4".
    public static var libraryVersion: String {
        var major: Int32 = 0
        var minor: Int32 = 0
        var patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return "\(major).\(minor).\(patch)"
    }

    /// Whether libzmq was built with CURVE security.
    public static var hasCurve: Bool { zmq_has("curve") != 0 }
}

/// A raw pointer handed to another thread that alone uses it from then on.
struct UncheckedPointer: @unchecked Sendable {
    // @unchecked Sendable: used only to hand a pointer to a thread that becomes its sole user.
    let pointer: UnsafeMutableRawPointer
    init(_ pointer: UnsafeMutableRawPointer) { self.pointer = pointer }
}

/// Makes termination happen once.
private final class Terminated: Sendable {
    private let flag = Mutex(false)
    func claim() -> Bool {
        flag.withLock { done in
            defer { done = true }; return !done
        }
    }
}
