import DaemonAnalysis
import Foundation
import PolicyKit
import WireProtocol

/// Prepares the scan policy's decisions and enforces the safety envelope: turns the newest
/// analysis into an observation (``observe(latest:elapsed:analysedFrames:retraining:)``), and
/// once the policy has answered, shifts its target by the predicted drift and checks the action
/// before anything is sent (``plan(_:)``). Owned by the decision stage, which alone calls it and
/// asks the policy in between (a built-in one in place, an external one over the policy protocol).
struct PolicyRunner {
    /// What the policy is asked.
    enum Step {
        /// A stop condition holds: the session ends without asking the policy.
        case end(PolicyDecision)
        /// Ask the policy about this observation, then ``plan(_:)`` its decision.
        case ask(Observation)
    }

    /// What to do with a policy's decision.
    enum Plan: Sendable {
        /// Send `command` to carry out `decision`.
        case send(PolicyDecision, CommandAction)
        /// The envelope refused the decision's action; nothing is sent.
        case refuse(PolicyDecision, reason: String)
        /// Carried out inside the daemon, no command (a retraining request).
        case local(PolicyDecision)
        /// End the session.
        case end(PolicyDecision)
    }

    /// The policy's name, version and parameters (JSON), logged with its decisions.
    var identity: DecisionDraft.Maker
    /// Whether the policy decides only once the analysis of its previous action's frame is in.
    var waitsForAnalysis: Bool
    /// The envelope in force (the policy file's, narrowed to the instrument's limits).
    let envelope: SafetyEnvelope
    /// The stop conditions.
    let stop: StopConditions
    /// The session so far.
    private(set) var map = SessionMap()
    private var visitIndex: [FrameKey: Int] = [:]
    private var lastOutcome: ActionOutcome?
    private var newOutcomes: [ActionOutcome] = []
    /// Where the last action the policy's was carried out pointed, in sample coordinates.
    private var position: (x: Double, y: Double)?
    /// The same place on the stage (with the drift correction its command carried).
    private var stagePosition: (x: Double, y: Double)?
    /// Decisions asked of the policy.
    private(set) var steps = 0
    /// Refusals in a row; a policy that keeps proposing refused actions ends the session.
    private(set) var refusalsInARow = 0
    /// Most refusals in a row before the session ends.
    let refusalLimit = 10
    private var sent: [ContinuousClock.Instant] = []
    private var current: Double
    /// Whether scan and stage targets are shifted by the predicted drift.
    let compensatesDrift: Bool
    private var drift = DriftModel()
    private var correctionOfCommand: [CommandID: (x: Double, y: Double)] = [:]
    private var correctionOfFrame: [FrameKey: (x: Double, y: Double)] = [:]
    /// Regions of commands sent whose frames have not arrived: their dose counts already.
    private var planned: [CommandID: (region: ScanGeometry, frames: Int)] = [:]
    /// The correction applied to the newest command, nm.
    private(set) var lastCorrection: (x: Double, y: Double) = (0, 0)
    /// How far the sample was from where the newest registered frame's command expected it, nm:
    /// the drift the correction did not remove.
    private(set) var residual: (x: Double, y: Double)?

    /// A runner for the policy `identity` names, within `envelope`.
    init(
        identity: DecisionDraft.Maker, waitsForAnalysis: Bool, envelope: SafetyEnvelope, stop: StopConditions,
        assumedCurrent: Double = 30, compensatesDrift: Bool = true
    ) {
        self.identity = identity
        self.waitsForAnalysis = waitsForAnalysis
        self.envelope = envelope
        self.stop = stop
        self.compensatesDrift = compensatesDrift
        current = assumedCurrent
    }

    /// A runner for the built-in `policy`.
    init(
        policy: any ScanPolicy, envelope: SafetyEnvelope, stop: StopConditions, assumedCurrent: Double = 30,
        compensatesDrift: Bool = true
    ) {
        self.init(
            identity: .init(policy), waitsForAnalysis: policy.waitsForAnalysis, envelope: envelope, stop: stop,
            assumedCurrent: assumedCurrent, compensatesDrift: compensatesDrift)
    }

    /// Notes a frame received (analysed or not): it counts towards the dose map.
    mutating func frameReceived(_ header: FrameHeader) {
        let key = FrameKey(header)
        guard visitIndex[key] == nil else { return }
        if let reported = header.optics?.probeCurrent, reported.isFinite, reported > 0 { current = reported }
        if let command = header.commandID, var plan = planned[command] {
            plan.frames -= 1
            planned[command] = plan.frames > 0 ? plan : nil
        }
        // The map is in sample coordinates: the command's drift correction is taken off again.
        let correction = header.commandID.flatMap { correctionOfCommand[$0] } ?? (0, 0)
        correctionOfFrame[key] = correction
        var scan = header.scan
        scan.centerX -= correction.x
        scan.centerY -= correction.y
        visitIndex[key] = map.visits.count
        map.record(
            SessionMap.Visit(
                seq: header.seq, scan: scan, dose: Dose.perArea(of: header.scan, current: current), defects: nil,
                communities: []))
        Self.bound(&visitIndex, &correctionOfFrame)
    }

    /// Adds what analysis found to the frame's visit.
    mutating func frameAnalysed(_ analysis: FrameAnalysis) {
        if let measured = analysis.drift {
            drift.add(measured, frame: analysis.key, time: analysis.header.time.start)
            let applied = correctionOfFrame[analysis.key] ?? (0, 0)
            residual = (drift.offset.x - applied.x, drift.offset.y - applied.y)
        } else {
            drift.start(frame: analysis.key, time: analysis.header.time.start)
        }
        guard let index = visitIndex[analysis.key] else { return }
        var chips: [Int: Int] = [:]
        for community in analysis.chips?.summaries ?? [] { chips[community.id] = community.chips }
        map.update(
            visit: index, defects: analysis.detectorRan ? analysis.detections.count : nil,
            communities: analysis.chips?.summaries.map(\.id) ?? [], chips: chips)
    }

    /// What to show the policy next (or that a stop condition ends the session).
    mutating func observe(
        latest: FrameAnalysis?, elapsed: Double, analysedFrames: Int, retraining: RetrainingState?
    ) -> Step {
        if let reason = stop.reached(frames: analysedFrames, elapsed: elapsed, map: map) {
            return .end(PolicyDecision(.endSession, reason: reason))
        }
        let observation = Observation(
            step: steps, elapsed: elapsed, frame: latest.map(summary), defects: Self.defects(latest),
            communities: sampleCommunities(latest), chips: sampleChips(latest),
            drift: latest?.drift.map { DriftEstimate(dx: $0.dx, dy: $0.dy, vx: $0.vx, vy: $0.vy, peak: $0.peak) },
            conditionScore: latest?.condition?.score, lastOutcome: lastOutcome, outcomes: newOutcomes,
            position: position, map: map, envelope: envelope, retraining: retraining, thumbnail: latest?.thumbnail)
        steps += 1
        newOutcomes.removeAll()
        return .ask(observation)
    }

    /// What to do with the policy's `decision`: the action shifted by the predicted drift and
    /// checked against the envelope.
    mutating func plan(_ decision: PolicyDecision) -> Plan {
        // Where to point so that the sample region the policy asked for is what the beam sees.
        let correction = compensatesDrift ? drift.predictedOffset() : (x: 0.0, y: 0.0)
        let corrected = Self.shifted(decision.action, by: correction)
        lastCorrection = correction
        // Commands on their way count towards the dose budgets before their frames arrive.
        var expected = map
        for plan in planned.values {
            expected.record(
                SessionMap.Visit(
                    seq: 0, scan: plan.region,
                    dose: Dose.perArea(of: plan.region, current: current) * Double(plan.frames),
                    defects: nil, communities: []))
        }
        if let refusal = envelope.refusal(of: corrected, from: stagePosition, map: expected, current: current) {
            refusalsInARow += 1
            record(.refused(decision.action, reason: refusal))
            return .refuse(decision, reason: refusal)
        }
        refusalsInARow = 0
        switch decision.action {
        case .endSession:
            return .end(decision)
        case .requestRetraining:
            return .local(decision)
        case .scan:
            guard case .scan(let region) = corrected else { return .local(decision) }
            return .send(decision, .scanRegion(ScanRequest(geometry: region)))
        case .acquireReference:
            guard case .acquireReference(let region, let count) = corrected else { return .local(decision) }
            return .send(
                decision, .acquireReference(ReferenceRequest(scan: ScanRequest(geometry: region), count: count)))
        case .moveStage:
            guard case .moveStage(let x, let y) = corrected else { return .local(decision) }
            return .send(decision, .moveStage(StagePosition(x: x, y: y)))
        case .blank:
            return .send(decision, .blankBeam)
        case .unblank:
            return .send(decision, .unblankBeam)
        }
    }

    /// Records what became of an action of the policy's (`command`: the command that carried it).
    mutating func outcome(_ outcome: ActionOutcome, command: CommandID? = nil) {
        record(outcome)
        switch outcome {
        case .done(let action):
            guard let target = action.target else { return }
            let correction = command.flatMap { correctionOfCommand[$0] } ?? lastCorrection
            position = target
            stagePosition = (target.x + correction.x, target.y + correction.y)
        case .failed, .refused:
            // No frame will come of it: its dose no longer counts.
            if let command { planned[command] = nil }
        }
    }

    private mutating func record(_ outcome: ActionOutcome) {
        lastOutcome = outcome
        newOutcomes.append(outcome)
    }

    /// Notes a command about to be sent: its drift correction (so its frames go on the map where
    /// the sample was), its dose (until its frames arrive) and the command rate.
    mutating func commandSent(_ command: Command) {
        correctionOfCommand[command.id] = lastCorrection
        switch command.action {
        case .scanRegion(let request): planned[command.id] = (request.geometry, 1)
        case .acquireReference(let request): planned[command.id] = (request.scan.geometry, request.count)
        default: break
        }
        sent.append(.now)
        if correctionOfCommand.count > 4096 { correctionOfCommand.removeAll() }
    }

    /// How long to wait before the next command keeps the rate within the envelope.
    mutating func pause() -> Duration {
        let now = ContinuousClock.now
        sent.removeAll { now - $0 > .seconds(60) }
        guard sent.count >= envelope.commandsPerMinute, let oldest = sent.first else { return .zero }
        return .seconds(60) - (now - oldest)
    }

    /// `action` with its place moved by `offset`, nm.
    static func shifted(_ action: PolicyAction, by offset: (x: Double, y: Double)) -> PolicyAction {
        switch action {
        case .scan(var region):
            region.centerX += offset.x
            region.centerY += offset.y
            return .scan(region)
        case .acquireReference(var region, let count):
            region.centerX += offset.x
            region.centerY += offset.y
            return .acquireReference(region, count: count)
        case .moveStage(let x, let y):
            return .moveStage(x: x + offset.x, y: y + offset.y)
        default:
            return action
        }
    }

    // MARK: - Observations from analyses

    private func summary(_ analysis: FrameAnalysis) -> FrameSummary {
        let header = analysis.header
        let reported = header.optics?.probeCurrent.flatMap { $0.isFinite && $0 > 0 ? $0 : nil }
        return FrameSummary(
            seq: header.seq, scan: header.scan, stage: header.stage, time: header.time.start,
            purpose: header.purpose?.rawValue, dose: Dose.perArea(of: header.scan, current: reported ?? current),
            channels: analysis.channels, pixelSize: analysis.pixelSize)
    }

    private static func defects(_ analysis: FrameAnalysis?) -> [DefectObservation] {
        (analysis?.detections ?? []).map {
            DefectObservation(x: $0.stageX, y: $0.stageY, kind: $0.kind, confidence: $0.confidence)
        }
    }

    /// The newest frame's communities, their centres in sample coordinates.
    private func sampleCommunities(_ analysis: FrameAnalysis?) -> [CommunityObservation] {
        guard let analysis else { return [] }
        let correction = correctionOfFrame[analysis.key] ?? (0, 0)
        return (analysis.chips?.summaries ?? []).map {
            CommunityObservation(
                id: $0.id, chips: $0.chips, area: $0.area, defects: $0.defects, x: $0.x - correction.x,
                y: $0.y - correction.y, channels: $0.channels, part: $0.part)
        }
    }

    /// The newest frame's chips in sample coordinates (the command's drift correction taken off).
    private func sampleChips(_ analysis: FrameAnalysis?) -> [ChipObservation] {
        guard let analysis, let chips = analysis.chips else { return [] }
        let correction = correctionOfFrame[analysis.key] ?? (0, 0)
        return chips.chips.map {
            ChipObservation(
                x: $0.x - correction.x, y: $0.y - correction.y, size: $0.size, community: $0.community,
                defects: $0.defects, channels: $0.channels)
        }
    }

    /// Keeps the per-frame tables of a day-long session bounded: the oldest entries go first.
    private static func bound(
        _ visits: inout [FrameKey: Int], _ corrections: inout [FrameKey: (x: Double, y: Double)]
    ) {
        guard visits.count > 100_000 else { return }
        let newest = visits.values.max() ?? 0
        visits = visits.filter { $0.value > newest - 50_000 }
        corrections = corrections.filter { visits[$0.key] != nil }
    }
}
