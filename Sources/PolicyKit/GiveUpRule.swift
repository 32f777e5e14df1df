/// What the daemon does when the instrument keeps failing: the driver leaves five commands in a
/// row unanswered, or the beam is found blanked again three times in a row right after the daemon
/// unblanked it.
///
/// By default the session ends (`failed`, the beam blanked, exit status 2). A policy file can ask
/// for pauses instead, for faults that clear by themselves (a driver being restarted, someone at
/// the microscope for a minute): the daemon blanks the beam, logs the pause with its reason, waits,
/// and tries again with its counts reset; once the pauses are used up, the next give-up ends the
/// session.
///
/// ```yaml
/// give_up:
///   then: pause
///   pause_seconds: 60
///   pauses: 3
/// ```
///
/// A policy that keeps proposing refused actions always ends the session: waiting does not change
/// what it proposes.
public struct GiveUpRule: Sendable, Hashable {
    /// What a give-up does.
    public enum Then: String, Sendable, Hashable {
        /// End the session.
        case end
        /// Blank the beam, wait, try again.
        case pause
    }

    /// What a give-up does.
    public var then: Then
    /// How long a pause lasts, in seconds.
    public var pauseSeconds: Double
    /// Pauses before a give-up ends the session.
    public var pauses: Int

    /// A rule; the default ends the session at the first give-up.
    public init(then: Then = .end, pauseSeconds: Double = 60, pauses: Int = 3) {
        self.then = then
        self.pauseSeconds = pauseSeconds
        self.pauses = pauses
    }
}
