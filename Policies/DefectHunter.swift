import Foundation
public import PolicyKit
import WireProtocol

/// Surveys at low magnification, then zooms in at atomic resolution where it expects the most
/// defects. The survey's chip communities are the map: each zoom's defect count teaches the
/// policy its community's density, and the next zoom goes where the expected density plus an
/// exploration bonus (upper confidence bound: communities seen less get more) is highest, with a
/// small penalty for travel. Never zooms twice into the same place.
public struct DefectHunter: ScanPolicy {
    public let name = "defect-hunter"
    public let version = "1.0"
    var plan = SurveyThenZoom()
    /// Weight of the exploration bonus, in units of the prior density.
    public var exploration = 1.0
    /// Expected defects per nm² before a community has been zoomed into.
    public var priorDensity = 0.05
    /// Score lost per µm travelled from the previous zoom, in defects per nm².
    public var travelPenalty = 0.01
    private var seen: [Int: (defects: Int, area: Double, zooms: Int)] = [:]
    private var pending: SurveyThenZoom.Target?

    /// A defect hunter with the default survey (400 nm at 256 px) and zooms (10.24 nm at 512 px).
    public init() {}

    public var parameters: [String: String] {
        plan.parameters.merging([
            "exploration": "\(exploration)", "prior_density_per_nm2": "\(priorDensity)",
            "travel_penalty_per_um": "\(travelPenalty)",
        ]) { $1 }
    }

    public mutating func decide(_ observation: Observation) -> PolicyDecision {
        plan.absorb(observation)
        if let target = pending, let frame = observation.frame, case .done? = observation.lastOutcome,
            abs(frame.scan.fovX - plan.zoomFov) < 1e-6 * plan.zoomFov
        {
            var entry = seen[target.community] ?? (0, 0, 0)
            entry.defects += observation.defects.count
            entry.area += frame.scan.fovX * frame.scan.fovY
            entry.zooms += 1
            seen[target.community] = entry
        }
        pending = nil
        if !plan.surveyDone {
            let next = plan.nextSurvey()
            return PolicyDecision(.scan(next.region), reason: next.reason)
        }
        let densest = seen.max { density($0.value) < density($1.value) }
        let summary =
            densest.map {
                String(
                    format: "densest community %d: %.3f defects/nm² over %d zooms", $0.key, density($0.value),
                    $0.value.zooms)
            } ?? "no zoom analysed"
        guard plan.zoomed.count < plan.zooms else {
            return PolicyDecision(.endSession, reason: "\(plan.zooms) zooms made; \(summary)")
        }
        let candidates = plan.unvisited
        guard !candidates.isEmpty else {
            return PolicyDecision(
                .endSession, reason: "every surveyed chip lies within an earlier zoom (no community map?); \(summary)")
        }
        let total = seen.values.reduce(0) { $0 + $1.zooms }
        let last = plan.zoomed.last
        func score(_ target: SurveyThenZoom.Target) -> (score: Double, expected: Double, bonus: Double) {
            let entry = seen[target.community] ?? (0, 0, 0)
            let expected = density(entry)
            let bonus = exploration * priorDensity * (log(Double(total + 2)) / Double(entry.zooms + 1)).squareRoot()
            let travel = last.map { hypot($0.x - target.x, $0.y - target.y) / 1000 * travelPenalty } ?? 0
            return (expected + bonus - travel, expected, bonus)
        }
        let scored = candidates.map { ($0, score($0)) }.sorted { $0.1.score > $1.1.score }
        let (best, figures) = scored[0]
        plan.zoom(best)
        pending = best
        let entry = seen[best.community] ?? (0, 0, 0)
        let history =
            entry.zooms == 0
            ? "not zoomed into yet"
            : "\(entry.zooms) zoom(s) there found \(entry.defects) defects in \(Int(entry.area)) nm²"
        // One candidate per community (its best place), for the log.
        var perCommunity: [Int: PolicyDecision.Candidate] = [:]
        for (target, s) in scored where perCommunity[target.community] == nil {
            perCommunity[target.community] = .init(
                .scan(plan.zoomRegion(target)), score: s.score,
                note: String(
                    format: "community %d: expected %.3f/nm², bonus %.3f", target.community, s.expected, s.bonus))
        }
        return PolicyDecision(
            .scan(plan.zoomRegion(best)),
            reason: String(
                format:
                    "zoom %d of %d into community %d at (%.1f, %.1f) nm: expects %.3f defects/nm² (%@) + exploration %.3f",
                plan.zoomed.count, plan.zooms, best.community, best.x, best.y, figures.expected, history as NSString,
                figures.bonus),
            candidates: perCommunity.values.sorted { $0.score > $1.score })
    }

    /// Posterior mean density: the prior counts as one zoom's worth of area.
    private func density(_ entry: (defects: Int, area: Double, zooms: Int)) -> Double {
        let priorArea = plan.zoomFov * plan.zoomFov
        return (Double(entry.defects) + priorDensity * priorArea) / (entry.area + priorArea)
    }

    /// Reads `parameters:` of a policy file.
    public static let factory = PolicyFactory(
        name: "defect-hunter",
        summary: "survey, then zoom at atomic resolution where the most defects are expected (UCB over communities)"
    ) { (node: PolicyParameters?) throws(PolicyFileError) -> any ScanPolicy in
        var policy = DefectHunter()
        guard let node else { return policy }
        try node.only(SurveyThenZoom.keys + ["exploration", "prior_density_per_nm2", "travel_penalty_per_um"])
        try policy.plan.read(node)
        policy.exploration = try node.double("exploration", in: 0...100) ?? policy.exploration
        policy.priorDensity = try node.double("prior_density_per_nm2", in: 0...100) ?? policy.priorDensity
        policy.travelPenalty = try node.double("travel_penalty_per_um", in: 0...100) ?? policy.travelPenalty
        return policy
    }
}
