import Foundation
public import PolicyKit
public import WireProtocol

/// Runs the active scan policy and enforces the safety envelope: turns the newest analysis into
/// an observation, asks the policy, and checks its action before anything is sent.
public actor PolicyRunner {
    /// What to do with a policy's decision.
    public enum Plan: Sendable {
        /// Send `command` to carry out `decision`.
        case send(PolicyDecision, CommandAction)
        /// The envelope refused the decision's action; nothing is sent.
        case refuse(PolicyDecision, reason: String)
        /// Carried out inside the daemon, no command (a retraining request).
        case local(PolicyDecision)
        /// End the session.
        case end(PolicyDecision)
    }

    private var policy: any ScanPolicy
    /// The envelope in force (the policy file's, narrowed to the instrument's limits).
    public let envelope: SafetyEnvelope
    /// The stop conditions.
    public let stop: StopConditions
    /// The session so far.
    public private(set) var map = SessionMap()
    private var visitIndex: [FrameKey: Int] = [:]
    private var lastOutcome: ActionOutcome?
    private var position: (x: Double, y: Double)?
    /// Decisions asked of the policy.
    public private(set) var steps = 0
    /// Refusals in a row; a policy that keeps proposing refused actions ends the session.
    public private(set) var refusalsInARow = 0
    /// Most refusals in a row before the session ends.
    public let refusalLimit = 10
    private var sent: [ContinuousClock.Instant] = []
    private var current: Double
    /// Whether scan and stage targets are shifted by the predicted drift.
    public let compensatesDrift: Bool
    private var drift = DriftModel()
    private var correctionOfCommand: [CommandID: (x: Double, y: Double)] = [:]
    private var correctionOfFrame: [FrameKey: (x: Double, y: Double)] = [:]
    /// The correction applied to the newest command, nm.
    public private(set) var lastCorrection: (x: Double, y: Double) = (0, 0)
    /// How far the sample was from where the newest registered frame's command expected it, nm:
    /// the drift the correction did not remove.
    public private(set) var residual: (x: Double, y: Double)?

    /// A runner for `policy` within `envelope`.
    public init(
        policy: any ScanPolicy, envelope: SafetyEnvelope, stop: StopConditions, assumedCurrent: Double = 30,
        compensatesDrift: Bool = true
    ) {
        self.policy = policy
        self.envelope = envelope
        self.stop = stop
        self.compensatesDrift = compensatesDrift
        current = assumedCurrent
    }

    /// The policy's name, version and parameters (JSON), for the log.
    public var identity: (name: String, version: String, parameters: String) {
        let parameters = (try? JSONEncoder.sorted.encode(policy.parameters)).map { String(decoding: $0, as: UTF8.self) }
        return (policy.name, policy.version, parameters ?? "{}")
    }

    /// Notes a frame received (analysed or not): it counts towards the dose map.
    public func frameReceived(_ header: FrameHeader) {
        let key = FrameKey(header)
        guard visitIndex[key] == nil else { return }
        if let reported = header.optics?.probeCurrent, reported.isFinite, reported > 0 { current = reported }
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
    }

    /// Adds what analysis found to the frame's visit.
    public func frameAnalysed(_ analysis: FrameAnalysis) {
        if let measured = analysis.drift {
            drift.add(measured, frame: analysis.key, time: analysis.frame.time)
            let applied = correctionOfFrame[analysis.key] ?? (0, 0)
            residual = (drift.offset.x - applied.x, drift.offset.y - applied.y)
        } else {
            drift.start(frame: analysis.key, time: analysis.frame.time)
        }
        guard let index = visitIndex[analysis.key] else { return }
        var chips: [Int: Int] = [:]
        for community in analysis.communities { chips[community.id] = community.chips }
        map.update(
            visit: index, defects: analysis.detectorRan ? analysis.defects.count : nil,
            communities: analysis.communities.map(\.id), chips: chips)
    }

    /// Asks the policy for its next action and checks it.
    public func next(
        latest: FrameAnalysis?, elapsed: Double, analysedFrames: Int, retraining: RetrainingState? = nil
    ) -> Plan {
        if let reason = stop.reached(frames: analysedFrames, elapsed: elapsed, map: map) {
            return .end(PolicyDecision(.endSession, reason: reason))
        }
        let observation = Observation(
            step: steps, elapsed: elapsed, frame: latest?.frame, defects: latest?.defects ?? [],
            communities: latest?.communities ?? [], chips: sampleChips(latest),
            drift: latest?.drift.map { DriftEstimate(dx: $0.dx, dy: $0.dy, vx: $0.vx, vy: $0.vy, peak: $0.peak) },
            conditionScore: latest?.condition?.score, lastOutcome: lastOutcome, map: map, envelope: envelope,
            retraining: retraining)
        steps += 1
        let decision = policy.decide(observation)
        // Where to point so that the sample region the policy asked for is what the beam sees.
        let correction = compensatesDrift ? drift.predictedOffset() : (x: 0.0, y: 0.0)
        let corrected = Self.shifted(decision.action, by: correction)
        lastCorrection = correction
        if let refusal = envelope.refusal(of: corrected, from: position, map: map, current: current) {
            refusalsInARow += 1
            lastOutcome = .refused(decision.action, reason: refusal)
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

    /// The newest frame's chips in sample coordinates (the command's drift correction taken off).
    private func sampleChips(_ analysis: FrameAnalysis?) -> [ChipObservation] {
        guard let analysis else { return [] }
        let correction = correctionOfFrame[analysis.key] ?? (0, 0)
        return analysis.chips.map {
            var chip = $0
            chip.x -= correction.x
            chip.y -= correction.y
            return chip
        }
    }

    /// Records what became of the last action sent.
    public func outcome(_ outcome: ActionOutcome) {
        lastOutcome = outcome
        if case .done(let action) = outcome, let target = action.target {
            position = (target.x + lastCorrection.x, target.y + lastCorrection.y)
        }
    }

    /// Notes the drift correction a command carries, so its frames go on the map where the sample was.
    public func commandSent(_ id: CommandID) {
        correctionOfCommand[id] = lastCorrection
        sent.append(.now)
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

    /// How long to wait before the next command keeps the rate within the envelope.
    public func pause() -> Duration {
        let now = ContinuousClock.now
        sent.removeAll { now - $0 > .seconds(60) }
        guard sent.count >= envelope.commandsPerMinute, let oldest = sent.first else { return .zero }
        return .seconds(60) - (now - oldest)
    }

}
