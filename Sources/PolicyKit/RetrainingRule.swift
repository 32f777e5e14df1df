/// When the daemon retrains the detector by itself: the condition monitor's score (how far the
/// frames are from the conditions the detector was trained for) stays above a threshold for some
/// analysed atomic-resolution frames in a row. The daemon then acquires reference frames where it
/// last looked, learns the microscope's look from them with the rule's ``realism`` model,
/// fine-tunes the detector in the background and swaps the new one in only if it validates better.
public struct RetrainingRule: Sendable, Hashable {
    /// Which realism model makes the fine-tuning simulations look like today's microscope.
    public enum Realism: String, Sendable, Hashable, CaseIterable {
        /// The fitted physical model: an approximate-Bayesian estimate of dose, aberrations,
        /// contrast and noise (about a minute).
        case fitted
        /// A CycleGAN trained on the reference frames against clean simulations: it can learn
        /// effects the fitted model has no parameter for (minutes to tens of minutes, by
        /// ``RetrainingRule/cycleganSteps``).
        case cyclegan
        /// Both; the detector that scores better on held-out simulations of both kinds (its worse
        /// score of the two) is kept.
        case both

        /// Whether the fitted model is used.
        public var usesFitted: Bool { self != .cyclegan }
        /// Whether a CycleGAN is trained.
        public var usesCycleGAN: Bool { self != .fitted }
    }

    /// The score above which a frame counts as off-conditions.
    public var conditionScore: Double
    /// Off-conditions frames in a row that fire the rule.
    public var framesInARow: Int
    /// Reference frames acquired before retraining.
    public var referenceFrames: Int
    /// Analysed frames after a retraining before the rule may fire again.
    public var cooldownFrames: Int
    /// The realism model of a retraining (the policy's own retraining requests use it too).
    public var realism: Realism
    /// CycleGAN training steps of a retraining (nil: the daemon's default, 2000 steps, about
    /// 15-20 minutes on a 2-vCPU machine). A later retraining continues from the previous
    /// generator.
    public var cycleganSteps: Int?

    /// A rule; the defaults fire after 3 frames in a row scoring above 2 and use the fitted model.
    public init(
        conditionScore: Double = 2, framesInARow: Int = 3, referenceFrames: Int = 4, cooldownFrames: Int = 20,
        realism: Realism = .fitted, cycleganSteps: Int? = nil
    ) {
        self.conditionScore = conditionScore
        self.framesInARow = framesInARow
        self.referenceFrames = referenceFrames
        self.cooldownFrames = cooldownFrames
        self.realism = realism
        self.cycleganSteps = cycleganSteps
    }
}
