/// A scan policy: after every analysed frame it decides what the microscope does next.
///
/// A policy is a value type that the daemon owns; it may keep state in its stored properties
/// (`decide` is `mutating`). It never talks to the instrument itself: it returns a
/// ``PolicyDecision``, the daemon checks the action against the ``SafetyEnvelope``, logs the
/// decision with its reason, and only then sends the command. An action outside the envelope is
/// refused and the policy hears about it in ``Observation/lastOutcome``.
///
/// ```swift
/// struct LookTwice: ScanPolicy {
///     let name = "look-twice"
///     let version = "1"
///     var parameters: [String: String] { ["fov_nm": "\(fov)"] }
///     var fov = 10.0
///     private var looked = 0
///
///     mutating func decide(_ observation: Observation) -> PolicyDecision {
///         guard looked < 2 else { return PolicyDecision(.endSession, reason: "looked twice") }
///         looked += 1
///         let region = ScanGeometry(centerX: 0, centerY: 0, fovX: fov, width: 256, height: 256, dwell: 10)
///         return PolicyDecision(.scan(region), reason: "look \(looked) of 2 at the centre")
///     }
/// }
/// ```
public protocol ScanPolicy: Sendable {
    /// The name policy files use, e.g. `raster-survey`.
    var name: String { get }
    /// The policy's version, logged with every decision.
    var version: String { get }
    /// The parameters in force, logged with the session and every decision.
    var parameters: [String: String] { get }
    /// The next action, given the newest analysis and the session so far.
    mutating func decide(_ observation: Observation) -> PolicyDecision
    /// Whether the policy needs the analysis of the frame its previous action produced before it
    /// decides again (the default). A policy that plans ahead, as a raster does, says false: the
    /// daemon then asks it for the next action as soon as the driver has queued the previous
    /// one, so the beam does not wait for analysis between frames. It then learns outcomes late,
    /// in ``Observation/outcomes``.
    var waitsForAnalysis: Bool { get }
}

extension ScanPolicy {
    /// The policy waits for the analysis of its previous frame before deciding again.
    public var waitsForAnalysis: Bool { true }
}
