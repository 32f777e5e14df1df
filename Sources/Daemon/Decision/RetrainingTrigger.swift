import DaemonAnalysis
import PolicyKit

/// Applies a ``RetrainingRule`` to the stream of analysed frames.
struct RetrainingTrigger {
    let rule: RetrainingRule
    private var inARow = 0
    private var sinceLast = Int.max / 2
    /// The newest atomic-resolution frame with a condition score, where reference frames are taken.
    private(set) var latest: (analysis: FrameAnalysis, score: Double)?

    init(rule: RetrainingRule) { self.rule = rule }

    /// Counts an analysed frame.
    mutating func observe(_ analysis: FrameAnalysis) {
        sinceLast += 1
        guard let score = analysis.condition?.score else { return }
        latest = (analysis, score)
        inARow = score > rule.conditionScore ? inARow + 1 : 0
    }

    /// Whether the rule fires now; if it does, the count starts again and the cooldown begins.
    mutating func fire() -> Bool {
        guard inARow >= rule.framesInARow, sinceLast >= rule.cooldownFrames else { return false }
        inARow = 0
        sinceLast = 0
        return true
    }
}
