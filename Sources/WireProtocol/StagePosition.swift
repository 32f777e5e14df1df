/// A stage position in nanometres (x, y) with optional height and tilts.
public struct StagePosition: Sendable, Hashable, Codable, Validatable {
    /// x, nm.
    public var x: Double
    /// y, nm.
    public var y: Double
    /// Height, nm, when the instrument reports it.
    public var z: Double?
    /// Alpha tilt, degrees, when reported.
    public var alpha: Double?
    /// Beta tilt, degrees, when reported.
    public var beta: Double?

    /// Creates a position.
    public init(x: Double, y: Double, z: Double? = nil, alpha: Double? = nil, beta: Double? = nil) {
        self.x = x
        self.y = y
        self.z = z
        self.alpha = alpha
        self.beta = beta
    }

    enum CodingKeys: String, CodingKey {
        case x = "x_nm", y = "y_nm", z = "z_nm", alpha = "alpha_deg", beta = "beta_deg"
    }

    func validate(_ check: FieldChecker, at path: String) throws(ProtocolError) {
        try check.finite(x, path.dot("x_nm"))
        try check.finite(y, path.dot("y_nm"))
        if let z { try check.finite(z, path.dot("z_nm")) }
        if let alpha { try check.within(alpha, -90...90, path.dot("alpha_deg")) }
        if let beta { try check.within(beta, -90...90, path.dot("beta_deg")) }
    }
}
