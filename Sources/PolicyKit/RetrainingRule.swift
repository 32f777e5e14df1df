/// When the daemon retrains the detector by itself: the condition monitor's score (how far the
/// frames are from the conditions the detector was trained for) stays above a threshold for some
/// analysed atomic-resolution frames in a row. The daemon then acquires reference frames where it
/// last looked, refits the realism model on them, fine-tunes the detector in the background and
/// swaps the new one in only if it validates better.
public struct RetrainingRule: Sendable, Hashable {
    /// The score above which a frame counts as off-conditions.
    public var conditionScore: Double
    /// Off-conditions frames in a row that fire the rule.
    public var framesInARow: Int
    /// Reference frames acquired before retraining.
    public var referenceFrames: Int
    /// Analysed frames after a retraining before the rule may fire again.
    public var cooldownFrames: Int

    /// A rule; the defaults fire after 3 frames in a row scoring above 2.
    public init(conditionScore: Double = 2, framesInARow: Int = 3, referenceFrames: Int = 4, cooldownFrames: Int = 20) {
        self.conditionScore = conditionScore
        self.framesInARow = framesInARow
        self.referenceFrames = referenceFrames
        self.cooldownFrames = cooldownFrames
    }
}
