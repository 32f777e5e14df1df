/// The optical state of the microscope, as far as the driver knows it. Every field is optional.
public struct Optics: Sendable, Hashable, Codable, Validatable {
    /// Beam energy (high tension), kV.
    public var beamEnergy: Double?
    /// Probe convergence semi-angle, mrad.
    public var convergence: Double?
    /// Defocus C1, nm (positive = underfocus).
    public var defocus: Double?
    /// Spherical aberration C3, um.
    public var sphericalAberration: Double?
    /// Probe current, pA.
    public var probeCurrent: Double?
    /// ADF detector inner collection angle, mrad.
    public var detectorInner: Double?
    /// ADF detector outer collection angle, mrad.
    public var detectorOuter: Double?

    /// Creates an optics record.
    public init(
        beamEnergy: Double? = nil, convergence: Double? = nil, defocus: Double? = nil,
        sphericalAberration: Double? = nil, probeCurrent: Double? = nil, detectorInner: Double? = nil,
        detectorOuter: Double? = nil
    ) {
        self.beamEnergy = beamEnergy
        self.convergence = convergence
        self.defocus = defocus
        self.sphericalAberration = sphericalAberration
        self.probeCurrent = probeCurrent
        self.detectorInner = detectorInner
        self.detectorOuter = detectorOuter
    }

    enum CodingKeys: String, CodingKey {
        case beamEnergy = "beam_energy_kv", convergence = "convergence_mrad", defocus = "defocus_nm"
        case sphericalAberration = "cs_um", probeCurrent = "probe_current_pa"
        case detectorInner = "detector_inner_mrad", detectorOuter = "detector_outer_mrad"
    }

    func validate(_ check: FieldChecker, at path: String) throws(ProtocolError) {
        if let beamEnergy { try check.within(beamEnergy, 1...1000, path.dot("beam_energy_kv")) }
        if let convergence { try check.positive(convergence, path.dot("convergence_mrad")) }
        if let defocus { try check.finite(defocus, path.dot("defocus_nm")) }
        if let sphericalAberration { try check.finite(sphericalAberration, path.dot("cs_um")) }
        if let probeCurrent { try check.within(probeCurrent, 0...1e6, path.dot("probe_current_pa")) }
        if let detectorInner { try check.within(detectorInner, 0...1000, path.dot("detector_inner_mrad")) }
        if let detectorOuter { try check.within(detectorOuter, 0...1000, path.dot("detector_outer_mrad")) }
    }
}
