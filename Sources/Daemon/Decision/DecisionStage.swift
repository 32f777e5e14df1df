import CoreMetrics
import DaemonAnalysis
import Foundation
import ImageNumerics
import Logging
import PolicyHost
import PolicyKit
import Transport
import WireProtocol

/// The decision stage: reads what ingest and analysis learned from its mailbox, asks the policy,
/// enforces the envelope, commits each decision to the log before its command is sent, and hands
/// the command to the instrument link. Also the daemon's own decisions: asking for frames lost on
/// the feed, unblanking a beam the driver blanked and retrying, the retraining rule.
///
/// It owns the policy's state and reads nothing back from the log or from analysis: every input
/// arrives as a ``DecisionInput``. Commands run as child tasks of ``run()``, which post their ACK
/// and outcome to the same mailbox, so a stop, an analysis or a lost frame is seen while a scan
/// runs.
final class DecisionStage {
    /// What the stage works with.
    struct Context: Sendable {
        let configuration: DaemonConfiguration
        let log: SessionLog
        let link: InstrumentLink
        let inbox: Mailbox<DecisionInput>
        let retraining: Mailbox<RetrainingRequest>
        let board: StatusBoard
        let metrics: DaemonMetrics
        let logger: Logger
        let stop: StopSignal
    }

    /// A command of the policy's on its way.
    struct InFlight {
        var command: Command
        var decision: Int64
        var acknowledged = false
    }

    /// The frames a finished command produced, which the next decision waits for (a policy that
    /// waits for analysis): each is analysed, skipped by analysis, or lost.
    struct Expectation {
        var command: CommandID
        var frames: Set<FrameKey>
        /// When to stop waiting and decide without them (pushed back as frames arrive).
        var deadline: ContinuousClock.Instant
    }

    let context: Context
    /// Who decides.
    var policy: SessionPolicy
    var runner: PolicyRunner
    var trigger: RetrainingTrigger?
    var model: (id: String, path: String)?
    var retrainingState: RetrainingState?
    var recentAtomic: [(image: Image, pixelSize: Double, dwell: Double)] = []
    var latest: FrameAnalysis?
    var latestUsed: FrameKey?
    var analysed = 0
    var recovery = FrameRecovery()
    var expectation: Expectation?
    var inFlight: [CommandID: InFlight] = [:]
    var retries: [(of: Int64, command: CommandAction, action: PolicyAction)] = []
    /// Frames logged whose analysis has not come yet.
    var awaitingAnalysis: Set<FrameKey> = []
    var endWanted = false
    var unanswered = 0
    var blankedInARow = 0
    var driverSession: String
    /// When the pause the stage is in ends (nil: not paused). See ``GiveUpRule``.
    var pausedUntil: ContinuousClock.Instant?
    /// Pauses taken so far.
    var pausesTaken = 0
    /// Starts of the external policy's process logged so far.
    var policyStartsLogged = 0
    /// The map's visits the log's observations hold, and those of the observation being decided.
    var loggedVisits = VisitCursor()
    var shownVisits: [SessionMap.Visit] = []
    /// The session is ending: commands still on their way are being settled.
    var settling = false
    var beamTime = BeamTime()
    let started = ContinuousClock.now
    /// Policy commands in a row the driver may leave unanswered before the session ends.
    static let unansweredLimit = 5
    /// Times in a row the beam may be found blanked again right after unblanking.
    static let blankedLimit = 3
    /// Atomic-resolution frames kept for a retraining.
    static let keptForRetraining = 4

    var configuration: DaemonConfiguration { context.configuration }
    var logger: Logger { context.logger }
    var elapsed: Double { (ContinuousClock.now - started).milliseconds / 1000 }

    init(
        context: Context, policy: SessionPolicy, runner: PolicyRunner, welcome: Welcome,
        model: (id: String, path: String)?
    ) {
        self.context = context
        self.policy = policy
        self.runner = runner
        self.model = model
        driverSession = welcome.session
        trigger = context.configuration.policy.retraining.map { RetrainingTrigger(rule: $0) }
    }

    // MARK: - The loop

    /// Runs until the policy ends the session, a stop condition holds, a stop is requested or the
    /// session cannot go on; then settles the commands still on their way. Returns how it ended.
    func run() async -> SessionEnding {
        // A discarding group: a command's task is freed when it ends. (A `TaskGroup` keeps every
        // finished child until its result is read, about 20 KB per command for the whole session.)
        await withDiscardingTaskGroup { group in
            let ending = await loop(&group)
            await settle(&group, ending: ending)
            group.cancelAll()
            return ending
        }
    }

    func loop(_ group: inout DiscardingTaskGroup) async -> SessionEnding {
        if let ending = await policyStarted() { return ending }
        while true {
            while let input = context.inbox.poll() {
                if let ending = await handle(input) { return ending }
            }
            if context.stop.isFired { return .stopped() }
            if let ending = await logLosses() { return ending }
            if let until = pausedUntil {
                // Paused: inputs are handled as they come, nothing is sent until the pause is over.
                if until > .now {
                    if let input = await context.inbox.receive(until: until), let ending = await handle(input) {
                        return ending
                    }
                    continue
                }
                if let ending = await resume() { return ending }
                continue
            }
            if recovery.hasWanted {
                if let ending = await askForWantedFrames() { return ending }
                continue
            }
            if let (deadline, why) = waitingFor() {
                guard let input = await context.inbox.receive(until: deadline) else {
                    if context.stop.isFired { return .stopped() }
                    passed(why)
                    continue
                }
                if let ending = await handle(input) { return ending }
                continue
            }
            if !retries.isEmpty {
                let retry = retries.removeFirst()
                let reason = "retry of decision \(retry.of) after unblanking the beam"
                let draft = daemonDraft(["action": retry.command.name, "retry_of": "\(retry.of)"], reason: reason)
                if let ending = await start(
                    retry.command, reason: reason, draft: draft, policyAction: retry.action, retryOf: retry.of,
                    in: &group)
                {
                    return ending
                }
                continue
            }
            if var rule = trigger, rule.fire() {
                trigger = rule
                if let ending = await retrainByRule(rule) { return ending }
                continue
            }
            if let ending = await decide(in: &group) { return ending }
        }
    }

    /// Why the policy may not be asked now, and until when to wait (nil: no deadline).
    enum Waiting {
        case acknowledgement, outcome, frames, analysis
    }

    func waitingFor() -> (ContinuousClock.Instant?, Waiting)? {
        let due = recovery.nextDue
        // The driver must have queued a command before the next one is decided.
        if inFlight.values.contains(where: { !$0.acknowledged }) { return (due, .acknowledgement) }
        if endWanted && (!inFlight.isEmpty || recovery.isBusy) { return (due, .outcome) }
        if runner.waitsForAnalysis {
            if !inFlight.isEmpty { return (due, .outcome) }
            if let expectation {
                return (min(expectation.deadline, due ?? expectation.deadline), .frames)
            }
        } else if inFlight.count >= 2 {
            return (due, .outcome)
        } else if awaitingAnalysis.count + recovery.due + inFlight.count > configuration.analysisQueue {
            // Deciding ahead only while analysis keeps up: every frame waiting for analysis or on
            // its way, and every scan not yet done, must fit the analysis queue, or frames would
            // be skipped.
            return (due, .analysis)
        }
        if let due, due <= .now { return (due, .frames) }
        return nil
    }

    /// A wait's deadline passed without the input it waited for.
    func passed(_ why: Waiting) {
        recovery.expire(now: .now)
        guard case .frames = why, let waiting = expectation, waiting.deadline <= .now else { return }
        let seqs = waiting.frames.map(\.seq).sorted()
        logger.warning(
            "the analysis of frames \(seqs) of command \(waiting.command) did not come in time; deciding without it")
        expectation = nil
    }

    // MARK: - Inputs

    func handle(_ input: DecisionInput) async -> SessionEnding? {
        switch input {
        case .stop:
            return .stopped()
        case .frameLogged(let arrival):
            recovery.arrived(arrival.key)
            awaitingAnalysis.insert(arrival.key)
            runner.frameReceived(arrival.header)
            if arrival.header.session != driverSession, !arrival.resent {
                driverSession = arrival.header.session
                recovery.driverRestarted(current: driverSession)
            }
            if var waiting = expectation, waiting.frames.contains(arrival.key) {
                waiting.deadline = max(waiting.deadline, .now + configuration.analysisWait)
                expectation = waiting
            }
            updateMap()
        case .frameRefused(let key, let resent, let reason):
            if let key { recovery.refused(key, resent: resent, reason: reason) }
        case .gap(let session, let missing):
            if session == driverSession { recovery.gap(session: session, missing: missing) }
        case .analysed(let analysis):
            absorb(analysis)
            resolve(analysis.key)
        case .analysisFailed(let key, _), .analysisSkipped(let key):
            resolve(key)
        case .commandAcknowledged(let id):
            inFlight[id]?.acknowledged = true
        case .commandFinished(let execution):
            return await finished(execution)
        case .retrainingFinished(let report):
            retrainingState = report.state
            if let swapped = report.swappedIn { model = swapped }
        }
        return nil
    }

    /// Frames towards a stop condition: analysed, and on their way to analysis (a policy that
    /// decides ahead must not be asked for more than the limit).
    var framesCounted: Int { analysed + awaitingAnalysis.count + recovery.due + inFlight.count }

    /// Whether a frame's analysis may still come: not lost, and not yet arrived or not yet analysed.
    func isPending(_ key: FrameKey) -> Bool {
        !recovery.isLost(key) && (awaitingAnalysis.contains(key) || !recovery.hasArrived(key))
    }

    func resolve(_ key: FrameKey) {
        awaitingAnalysis.remove(key)
        guard var waiting = expectation, waiting.frames.contains(key) else { return }
        waiting.frames.remove(key)
        expectation = waiting.frames.isEmpty ? nil : waiting
    }

    func absorb(_ analysis: FrameAnalysis) {
        analysed += 1
        latest = analysis
        runner.frameAnalysed(analysis)
        trigger?.observe(analysis)
        if let atomic = analysis.atomicImage {
            recentAtomic.append((atomic.image, atomic.pixelSize, analysis.header.scan.dwell))
            if recentAtomic.count > Self.keptForRetraining { recentAtomic.removeFirst() }
        }
        if !analysis.problems.isEmpty {
            logger.warning(
                "part of frame \(analysis.key)'s analysis was left out", metadata: ["problems": "\(analysis.problems)"])
        }
        updateMap()
    }

    func updateMap() {
        let map = runner.map
        context.board.update { status in
            status.communities = map.communityChips.count
            status.area = map.coveredArea
            status.electrons = map.electrons
        }
    }

    func logLosses() async -> SessionEnding? {
        for loss in recovery.takeLosses() {
            logger.warning("frame \(loss.key) is lost: \(loss.reason)")
            await context.log.lost(loss.key, command: nil, reason: loss.reason)
            context.board.update { $0.lost += 1 }
            resolve(loss.key)
        }
        return nil
    }
}
