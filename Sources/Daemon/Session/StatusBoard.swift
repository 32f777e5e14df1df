import Synchronization

/// Where the stages post what the session has done so far, for the live status line and the
/// summary: written by every stage, read by nobody in the pipeline.
final class StatusBoard: Sendable {
    private let status = Mutex(DaemonStatus())
    private let onChange: (@Sendable (DaemonStatus) -> Void)?

    /// A board that passes a fresh snapshot to `onChange` after every change.
    init(onChange: (@Sendable (DaemonStatus) -> Void)?) { self.onChange = onChange }

    /// The status now.
    var snapshot: DaemonStatus { status.withLock { $0 } }

    /// Changes the status.
    func update(_ body: (inout DaemonStatus) -> Void) {
        let snapshot = status.withLock { status -> DaemonStatus in
            body(&status)
            return status
        }
        onChange?(snapshot)
    }
}
