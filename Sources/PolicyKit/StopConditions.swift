/// When a session ends whatever the policy says.
public struct StopConditions: Sendable, Hashable {
    /// Most frames analysed.
    public var frames: Int?
    /// Most minutes.
    public var minutes: Double?
    /// Most electrons delivered.
    public var electrons: Double?
    /// Defects found after which the session ends.
    public var defects: Int?

    /// Stop conditions; nil fields never stop the session.
    public init(frames: Int? = nil, minutes: Double? = nil, electrons: Double? = nil, defects: Int? = nil) {
        self.frames = frames
        self.minutes = minutes
        self.electrons = electrons
        self.defects = defects
    }

    /// Why the session must end now, or nil.
    package func reached(frames analysed: Int, elapsed seconds: Double, map: SessionMap) -> String? {
        if let frames, analysed >= frames { return "stop condition: \(analysed) frames reached the limit of \(frames)" }
        if let minutes, seconds >= minutes * 60 {
            return "stop condition: \((seconds / 60).formatted1) minutes reached the limit of \(minutes.formatted1)"
        }
        if let electrons, map.electrons >= electrons {
            return "stop condition: \(map.electrons) electrons reached the limit of \(electrons)"
        }
        if let defects, map.defectsFound >= defects {
            return "stop condition: \(map.defectsFound) defects found, the target was \(defects)"
        }
        return nil
    }
}
