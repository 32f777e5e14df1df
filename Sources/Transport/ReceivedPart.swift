import CZeroMQ
public import WireProtocol

/// One part of a received ZeroMQ message, read in place: the bytes stay in libzmq's buffer (no
/// copy) until the last reference to this part is gone.
public final class ReceivedPart: ByteStorage, @unchecked Sendable {
    // @unchecked Sendable: the message is filled once by zmq_msg_recv on the socket's thread before
    // this object is shared, and only read afterwards (zmq_msg_data and zmq_msg_size do not mutate);
    // zmq_msg_close runs in deinit, when no other reference exists.
    let message: UnsafeMutablePointer<zmq_msg_t>

    init() {
        message = .allocate(capacity: 1)
        zmq_msg_init(message)
    }

    deinit {
        zmq_msg_close(message)
        message.deallocate()
    }

    public var byteCount: Int { zmq_msg_size(message) }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: zmq_msg_data(message), count: zmq_msg_size(message)))
    }
}
