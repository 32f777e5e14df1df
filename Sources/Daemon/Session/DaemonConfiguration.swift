public import DaemonRetraining
import Foundation
public import PolicyKit
public import Transport

/// Everything `scopepilot run` is told.
public struct DaemonConfiguration: Sendable {
    /// The driver's frame feed.
    public var feed: Endpoint
    /// The driver's command channel.
    public var control: Endpoint
    /// CURVE keys for both channels (nil: plain, for loopback).
    public var security: SocketSecurity = .plain
    /// The decision log's file.
    public var database: String
    /// The policy, its envelope and stop conditions.
    public var policy: PolicyFile
    /// The detector model: a shipped name (`se1`, `all`), a path, or nil for no detector.
    public var model: String? = "se1"
    /// Name the daemon introduces itself by.
    public var clientName = "scopepilot"
    /// Deadline of a scan command beyond the scan's own duration.
    public var commandDeadline: Duration = .seconds(10)
    /// How long to wait for the frame a finished scan produced before asking for it again.
    public var frameWait: Duration = .seconds(3)
    /// How long a decision waits for the analysis of a frame that arrived before it goes on without.
    public var analysisWait: Duration = .seconds(60)
    /// Frames waiting for analysis at most (older ones are skipped, never unlogged).
    public var analysisQueue = 2
    /// Store each frame's pixels in the log (large), not only a thumbnail.
    public var storePixels = false
    /// Probe current assumed for dose budgets until a frame reports one, pA.
    public var assumedCurrent = 30.0
    /// How much a retraining trains.
    public var retraining = Retrainer.Options()
    /// Where retrained models are written (default: beside the log, `LOG.models/`).
    public var modelsDirectory: String?
    /// How hard the instrument link tries.
    public var retry = InstrumentLink.RetryPolicy()

    /// A configuration.
    public init(feed: Endpoint, control: Endpoint, database: String, policy: PolicyFile) {
        self.feed = feed
        self.control = control
        self.database = database
        self.policy = policy
    }
}
