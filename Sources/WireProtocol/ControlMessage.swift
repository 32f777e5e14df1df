/// A message on the command channel (daemon DEALER <-> driver ROUTER).
///
/// Each is one JSON part, `{"protocol": "1.0", "type": ..., ...}`; a re-sent frame adds its header
/// and pixel parts after the envelope.
public enum ControlMessage: Sendable {
    /// Daemon -> driver, first.
    case hello(Hello)
    /// Driver -> daemon, the answer to HELLO.
    case welcome(Welcome)
    /// Daemon -> driver.
    case command(Command)
    /// Driver -> daemon: accepted.
    case ack(Ack)
    /// Driver -> daemon: refused (a command or a HELLO).
    case reject(Reject)
    /// Driver -> daemon: finished.
    case done(Done)
    /// Driver -> daemon: accepted but did not complete.
    case failed(Failed)
    /// Both ways.
    case heartbeat(Heartbeat)
    /// Either way: the answer to a message that could not be decoded at all.
    case error(ErrorReport)
    /// Driver -> daemon: a frame sent again in answer to `resend_frames`.
    case frame(inReplyTo: CommandID, Frame)

    /// The `type` field on the wire.
    public var type: String {
        switch self {
        case .hello: "hello"
        case .welcome: "welcome"
        case .command: "command"
        case .ack: "ack"
        case .reject: "reject"
        case .done: "done"
        case .failed: "failed"
        case .heartbeat: "heartbeat"
        case .error: "error"
        case .frame: "frame"
        }
    }

    /// Every `type` this protocol version defines.
    public static let allTypes = [
        "hello", "welcome", "command", "ack", "reject", "done", "failed", "heartbeat", "error", "frame",
    ]
}
