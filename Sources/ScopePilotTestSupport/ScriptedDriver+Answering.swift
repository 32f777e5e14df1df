public import Transport
public import WireProtocol

extension ScriptedDriver {
    /// A driver that answers every HELLO with `welcome(hello)` and every command with an ACK and
    /// then `end(command)` (a DONE, FAILED or REJECT); each reply `delay(reply)` after the message.
    public static func answering(
        context: ZMQContext, delay: @escaping Delay = { _ in .zero },
        welcome: @escaping @Sendable (Hello) -> Welcome,
        end: @escaping @Sendable (Command) -> ControlMessage
    ) async throws -> ScriptedDriver {
        try await ScriptedDriver(context: context, delay: delay) { incoming in
            switch incoming.message {
            case .success(.hello(let hello)):
                return [(try? ControlCodec.encode(.welcome(welcome(hello))))?.map(\.bytes) ?? []]
            case .success(.command(let command)):
                return [.ack(Ack(id: command.id)), end(command)].compactMap {
                    try? ControlCodec.encode($0).map(\.bytes)
                }
            default:
                return []
            }
        }
    }

    /// The DONE a driver that does everything at once answers `command` with.
    public static func done(_ command: Command) -> ControlMessage {
        .done(Done(id: command.id, readback: Readback(beamBlanked: command.action == .blankBeam)))
    }
}
