public import PolicyKit

/// The policies that ship with ScopePilot, by the names policy files use.
public enum BuiltInPolicies {
    /// Every built-in policy's factory.
    public static let factories: [PolicyFactory] = [
        RasterSurvey.factory, DefectHunter.factory, CommunityExplorer.factory, ActiveLearning.factory,
    ]

    /// The policy the daemon runs when none is given.
    public static var `default`: PolicyFile { PolicyFile(policy: RasterSurvey(), source: "built-in raster-survey") }
}
