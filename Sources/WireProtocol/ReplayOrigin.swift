/// What a replay driver serves, as its WELCOME announces it (protocol 1.2): a session recorded in
/// a decision log, or a folder of frames. The daemon logs it with the session, so that a replayed
/// session names the one it replays.
public struct ReplayOrigin: Sendable, Hashable, Codable, Validatable {
    /// The decision log of the recorded session, as the replay driver was given it.
    public var log: String?
    /// The recorded session's id in that log.
    public var session: String?
    /// The folder of frames, when the driver serves a folder rather than a recorded session.
    public var folder: String?
    /// How the driver answers scans: `order` (the recorded frames in turn) or `region` (the frame
    /// that covers the asked region).
    public var mode: String

    /// A recorded session of `log`.
    public static func session(_ session: String, log: String, mode: String) -> ReplayOrigin {
        ReplayOrigin(log: log, session: session, folder: nil, mode: mode)
    }

    /// A folder of frames.
    public static func folder(_ folder: String, mode: String) -> ReplayOrigin {
        ReplayOrigin(log: nil, session: nil, folder: folder, mode: mode)
    }

    /// Creates an origin.
    public init(log: String?, session: String?, folder: String?, mode: String) {
        self.log = log
        self.session = session
        self.folder = folder
        self.mode = mode
    }

    func validate(_ check: FieldChecker, at path: String) throws(ProtocolError) {
        if let log { try check.text(log, path.dot("log")) }
        if let session { try check.name(session, path.dot("session")) }
        if let folder { try check.text(folder, path.dot("folder")) }
        try check.name(mode, path.dot("mode"))
        guard (log != nil) != (folder != nil) else {
            throw check.fail(path, "names either a recorded session's log or a folder, not both or neither")
        }
    }
}
