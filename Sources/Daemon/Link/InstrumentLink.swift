import Foundation
public import Logging
public import Transport
public import WireProtocol

/// The daemon's side of the command channel, made robust: it says HELLO, and when the driver has
/// forgotten it it says HELLO again and resends the same command. Command ids are idempotent on
/// the driver, so a resent command that had in fact arrived is not carried out twice.
///
/// A driver restart is noticed as soon as the driver shows it: a `no_hello` answer (to a command
/// or to the daemon's heartbeat, docs/PROTOCOL.md 6.4) or a heartbeat or WELCOME naming a new
/// session. Commands still waiting for an answer from the old session are then resent at once
/// instead of at their deadline.
public actor InstrumentLink {
    /// How hard to try.
    public struct RetryPolicy: Sendable, Hashable {
        /// Resends of one command after the first attempt.
        public var resends = 2
        /// How long to wait for an ACK.
        public var ackTimeout: Duration = .seconds(2)
        /// Time allowed beyond a command's deadline for its DONE.
        public var grace: Duration = .seconds(1)
        /// How long to wait for a WELCOME.
        public var helloTimeout: Duration = .seconds(3)
        /// Pause before each resend, doubled every time.
        public var backoff: Duration = .milliseconds(100)

        /// The defaults: two resends, 2 s for an ACK, 1 s of grace, 3 s for a WELCOME.
        public init() {}
    }

    private let client: CommandClient
    private let name: String
    private let logger: Logger
    /// How hard to try.
    public let retry: RetryPolicy
    /// The driver's latest WELCOME.
    public private(set) var welcome: Welcome?
    /// Driver sessions seen after the first: each is a driver restart survived.
    public private(set) var restartsSeen = 0
    /// Commands sent more than once.
    public private(set) var resends = 0
    private var restartNoticed = false
    /// Callers waiting for the answer to the HELLO on its way (nil: none on its way).
    private var introducing: [CheckedContinuation<Welcome, any Error>]?

    /// A link over `client`, introducing itself as `name`.
    public init(
        client: CommandClient, name: String = "scopepilot", retry: RetryPolicy = RetryPolicy(),
        logger: Logger = Logger(label: "scopepilot.link")
    ) {
        self.client = client
        self.name = name
        self.retry = retry
        self.logger = logger
    }

    /// Says HELLO (again); returns the WELCOME. A new driver session counts as a restart. Callers
    /// that ask while a HELLO is on its way share its answer.
    @discardableResult
    public func introduce() async throws -> Welcome {
        if introducing != nil {
            return try await withCheckedThrowingContinuation { introducing?.append($0) }
        }
        introducing = []
        let previous = welcome
        do {
            let answer = try await client.hello(client: name, timeout: retry.helloTimeout)
            welcome = answer
            restartNoticed = false
            if let previous, previous.session != answer.session {
                // A new driver session: what the old one was carrying out will never be answered.
                restartsSeen += 1
                logger.warning("the driver restarted (session \(previous.session) is now \(answer.session))")
                await client.abandonPending(
                    TransportError(
                        code: .restarted,
                        message:
                            "the driver restarted (session \(previous.session) is now \(answer.session)) before it answered"
                    ))
            }
            let waiting = introducing ?? []
            introducing = nil
            for waiter in waiting { waiter.resume(returning: answer) }
            return answer
        } catch {
            let waiting = introducing ?? []
            introducing = nil
            for waiter in waiting { waiter.resume(throwing: error) }
            throw error
        }
    }

    /// Sends `command` and returns its outcome, re-introducing the daemon and resending the same
    /// command (same id) when the driver has forgotten it, restarted, or does not answer. A REJECT
    /// other than `no_hello` is an outcome, returned as is; the last timeout is thrown.
    public func execute(
        _ command: Command, onAcknowledged: (@Sendable () -> Void)? = nil
    ) async throws -> CommandResult {
        var pause = retry.backoff
        var attempt = 0
        var restarts = 0
        while true {
            attempt += 1
            let lastAttempt = attempt > retry.resends + restarts
            do {
                if restartNoticed { try await introduce() }
                let result = try await client.execute(
                    command, ackTimeout: retry.ackTimeout, grace: retry.grace, onAcknowledged: onAcknowledged)
                if case .rejected(let reject) = result.outcome, reject.code == ReasonCode.notIntroduced, !lastAttempt {
                    logger.debug("\(command.id): the driver does not know this daemon (no_hello); saying HELLO again")
                    try await introduce()
                    resends += 1
                    continue
                }
                return result
            } catch let error as TransportError where error.code == .restarted && restarts < 3 {
                logger.debug("\(command.id): \(error)")
                // The driver restarted under this command: introduce again and resend it now.
                restarts += 1
                resends += 1
                logger.warning("the driver restarted while \(command.id) ran; sending it again")
                if restartNoticed { _ = try? await introduce() }
            } catch let error as TransportError where error.code == .timedOut && !lastAttempt {
                logger.debug("\(command.id), attempt \(attempt): \(error)")
                // The driver may have restarted without hearing the command: introduce again (it
                // may not answer yet), wait a little, resend.
                _ = try? await introduce()
                try await Task.sleep(for: pause)
                pause *= 2
                resends += 1
            }
        }
    }

    /// Watches what the driver sends outside of answers (heartbeats, errors) until the client
    /// closes, and acts on a restart the moment it shows.
    public func watchDriver() async {
        for await event in client.events {
            switch event {
            case .heartbeat(let heartbeat):
                if let session = heartbeat.session, let known = welcome?.session, session != known {
                    await driverRestarted("its heartbeat names session \(session), not \(known)")
                }
            case .error(let report) where report.code == ReasonCode.notIntroduced:
                await driverRestarted("it answered the daemon's heartbeat with no_hello: \(report.reason)")
            case .error(let report):
                logger.warning(
                    "the driver could not read a message of the daemon's",
                    metadata: ["code": "\(report.code)", "reason": "\(report.reason)"])
            case .refused(let error):
                logger.warning(
                    "refused a message from the driver", metadata: ["error": "\(SessionLog.bounded("\(error)"))"])
            case .stray:
                break
            }
        }
    }

    private func driverRestarted(_ evidence: String) async {
        guard !restartNoticed else { return }
        restartNoticed = true
        logger.warning("the driver restarted (\(evidence)); saying HELLO again")
        await client.abandonPending(
            TransportError(code: .restarted, message: "the driver restarted (\(evidence)) before it answered"))
    }
}
