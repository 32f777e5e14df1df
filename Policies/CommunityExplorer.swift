import Foundation
public import PolicyKit
import WireProtocol

/// Surveys at low magnification, then zooms at atomic resolution into every community the survey
/// found, rarest first (fewest survey chips), `perCommunity` times each, at the community's chip
/// nearest its centre that no earlier zoom covered; ends when every community is covered.
public struct CommunityExplorer: ScanPolicy {
    public let name = "community-explorer"
    public let version = "1.0"
    var plan = SurveyThenZoom()
    /// Zooms into each community.
    public var perCommunity = 2

    /// A community explorer with the default survey and zooms.
    public init() {}

    public var parameters: [String: String] {
        plan.parameters.merging(["per_community": "\(perCommunity)"]) { $1 }
    }

    public mutating func decide(_ observation: Observation) -> PolicyDecision {
        plan.absorb(observation)
        if !plan.surveyDone {
            let next = plan.nextSurvey()
            return PolicyDecision(.scan(next.region), reason: next.reason)
        }
        var size: [Int: Int] = [:]
        for chip in plan.chips { size[chip.community, default: 0] += 1 }
        var zooms: [Int: Int] = [:]
        for target in plan.zoomed { zooms[target.community, default: 0] += 1 }
        let available = Dictionary(grouping: plan.unvisited, by: \.community)
        // Rarest first; a community with no place left to zoom counts as covered.
        let open = size.keys.filter { (zooms[$0] ?? 0) < perCommunity && available[$0] != nil }
            .sorted { (size[$0] ?? 0, $0) < (size[$1] ?? 0, $1) }
        // The place left to zoom nearest the centre of the community's survey chips.
        func nearestPlace(in community: Int) -> SurveyThenZoom.Target? {
            let members = plan.chips.filter { $0.community == community }
            guard !members.isEmpty else { return available[community]?.first }
            let cx = members.reduce(0) { $0 + $1.x } / Double(members.count)
            let cy = members.reduce(0) { $0 + $1.y } / Double(members.count)
            return available[community]?.min { hypot($0.x - cx, $0.y - cy) < hypot($1.x - cx, $1.y - cy) }
        }
        guard plan.zoomed.count < plan.zooms, let community = open.first, let target = nearestPlace(in: community)
        else {
            let reason =
                plan.zoomed.count >= plan.zooms
                ? "\(plan.zooms) zooms made (the limit); \(size.count - open.count) of \(size.count) communities covered"
                : "every one of the \(size.count) communities covered \(perCommunity) time(s), or as often as it has room"
            return PolicyDecision(.endSession, reason: reason)
        }
        plan.zoom(target)
        let done = zooms[community] ?? 0
        return PolicyDecision(
            .scan(plan.zoomRegion(target)),
            reason:
                "community \(community) (\(size[community] ?? 0) of \(plan.chips.count) survey chips, the rarest not yet "
                + "covered): zoom \(done + 1) of \(perCommunity)",
            candidates: open.prefix(5).compactMap { id in
                available[id]?.first.map {
                    .init(.scan(plan.zoomRegion($0)), score: -Double(size[id] ?? 0), note: "community \(id)")
                }
            })
    }

    /// Reads `parameters:` of a policy file.
    public static let factory = PolicyFactory(
        name: "community-explorer",
        summary: "survey, then zoom into every community found, rarest first"
    ) { (node: PolicyParameters?) throws(PolicyFileError) -> any ScanPolicy in
        var policy = CommunityExplorer()
        guard let node else { return policy }
        try node.only(SurveyThenZoom.keys + ["per_community"])
        try policy.plan.read(node)
        policy.perCommunity = try node.int("per_community", in: 1...1000) ?? policy.perCommunity
        return policy
    }
}
