import Foundation
public import Transport
public import WireProtocol

/// The daemon's side of the command channel, made robust: it says HELLO, and when the driver has
/// forgotten it (a driver restart answers `no_hello`, or a command goes unanswered) it says HELLO
/// again and resends the same command. Command ids are idempotent on the driver, so a resent
/// command that had in fact arrived is not carried out twice.
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
    /// How hard to try.
    public let retry: RetryPolicy
    /// The driver's latest WELCOME.
    public private(set) var welcome: Welcome?
    /// Driver sessions seen after the first: each is a driver restart survived.
    public private(set) var restartsSeen = 0
    /// Commands sent more than once.
    public private(set) var resends = 0

    /// A link over `client`, introducing itself as `name`.
    public init(client: CommandClient, name: String = "scopepilot", retry: RetryPolicy = RetryPolicy()) {
        self.client = client
        self.name = name
        self.retry = retry
    }

    /// Says HELLO (again); returns the WELCOME. A new driver session counts as a restart.
    @discardableResult
    public func introduce() async throws -> Welcome {
        let answer = try await client.hello(client: name, timeout: retry.helloTimeout)
        if let previous = welcome, previous.session != answer.session { restartsSeen += 1 }
        welcome = answer
        return answer
    }

    /// Sends `command` and returns its outcome, re-introducing the daemon and resending the same
    /// command (same id) when the driver has forgotten it or does not answer. A REJECT other than
    /// `no_hello` is an outcome, returned as is; the last timeout is thrown.
    public func execute(_ command: Command) async throws -> CommandResult {
        var pause = retry.backoff
        var attempt = 0
        while true {
            attempt += 1
            let lastAttempt = attempt > retry.resends
            do {
                let result = try await client.execute(command, ackTimeout: retry.ackTimeout, grace: retry.grace)
                if case .rejected(let reject) = result.outcome, reject.code == ReasonCode.notIntroduced, !lastAttempt {
                    try await reintroduce()
                    resends += 1
                    continue
                }
                return result
            } catch let error as TransportError where error.code == .timedOut && !lastAttempt {
                // The driver may have restarted without hearing the command: introduce again (it
                // may not answer yet), wait a little, resend.
                try? await reintroduce()
                try await Task.sleep(for: pause)
                pause *= 2
                resends += 1
            }
        }
    }

    private func reintroduce() async throws {
        _ = try await introduce()
    }
}
