import Foundation
public import PolicyKit
import WireProtocol

/// Active learning over stage positions: a Gaussian-process surrogate of the defect density
/// (defects per nm² in a zoomed frame) across an area, and at each step the zoom whose acquisition
/// value is highest, UCB (mean + κ·σ) or expected improvement, minus penalties for travel from the
/// previous zoom, for revisiting a place already zoomed into, and for the dose a place already
/// holds. Starts with a few space-filling zooms (a Halton sequence); ends after `zooms` zooms.
public struct ActiveLearning: ScanPolicy {
    /// How a candidate's promise is scored.
    public enum Acquisition: String, Sendable {
        /// Upper confidence bound: mean + κ·σ.
        case ucb
        /// Expected improvement over the best density seen.
        case ei
    }

    public let name = "active-learning"
    public let version = "1.0"
    /// Centre of the area, nm.
    public var center: (x: Double, y: Double) = (-120, 60)
    /// Half the side of the square area, nm.
    public var halfWidth = 150.0
    /// Candidates per side of the area's grid.
    public var gridSide = 25
    /// Field of view of a zoomed frame, nm.
    public var zoomFov = 10.24
    /// Pixels per side of a zoomed frame.
    public var zoomPixels = 512
    /// Dwell of a zoomed frame, µs.
    public var zoomDwell = 10.0
    /// Zooms in all.
    public var zooms = 20
    /// Space-filling zooms before the surrogate chooses.
    public var initial = 4
    /// The acquisition function.
    public var acquisition = Acquisition.ei
    /// UCB's κ.
    public var kappa = 2.0
    /// EI's ξ, defects per nm².
    public var xi = 0.005
    /// The surrogate's length scale, nm.
    public var lengthScale = 60.0
    /// Observation noise, defects per nm².
    public var noise = 0.01
    /// Acquisition lost per µm of travel from the previous zoom.
    public var travelPenalty = 0.002
    /// Acquisition lost by a candidate within one field of view of an earlier zoom.
    public var revisitPenalty = 1.0
    /// Acquisition lost per unit of the envelope's dose budget a place already holds.
    public var dosePenalty = 0.05

    private var surrogate: GaussianProcess?
    private var visited: [(x: Double, y: Double)] = []
    private var best = -Double.infinity

    /// Active learning with the defaults: 20 zooms over 300 nm around the standard sample's
    /// vacancy-rich zone, EI.
    public init() {}

    public var parameters: [String: String] {
        [
            "center_nm": "[\(center.x), \(center.y)]", "half_width_nm": "\(halfWidth)", "grid": "\(gridSide)",
            "zoom_fov_nm": "\(zoomFov)", "zoom_pixels": "\(zoomPixels)", "zoom_dwell_us": "\(zoomDwell)",
            "zooms": "\(zooms)", "initial": "\(initial)", "acquisition": acquisition.rawValue, "kappa": "\(kappa)",
            "xi": "\(xi)", "length_scale_nm": "\(lengthScale)", "noise": "\(noise)",
            "travel_penalty_per_um": "\(travelPenalty)", "revisit_penalty": "\(revisitPenalty)",
            "dose_penalty": "\(dosePenalty)",
        ]
    }

    public mutating func decide(_ observation: Observation) -> PolicyDecision {
        var model = surrogate ?? GaussianProcess(lengthScale: lengthScale, noise: noise)
        defer { surrogate = model }
        if let frame = observation.frame, case .done? = observation.lastOutcome,
            abs(frame.scan.fovX - zoomFov) < 1e-6 * zoomFov
        {
            let density = Double(observation.defects.count) / (frame.scan.fovX * frame.scan.fovY)
            model.add(x: frame.scan.centerX, y: frame.scan.centerY, value: density)
            best = max(best, density)
        }
        guard visited.count < zooms else {
            return PolicyDecision(
                .endSession,
                reason: String(format: "%d zooms made; the densest had %.3f defects/nm²", zooms, best))
        }
        if visited.count < initial {
            let (u, v) = (Self.halton(visited.count + 1, 2), Self.halton(visited.count + 1, 3))
            let target = (center.x + (2 * u - 1) * halfWidth, center.y + (2 * v - 1) * halfWidth)
            visited.append(target)
            return PolicyDecision(
                .scan(region(target)),
                reason: String(
                    format: "space-filling zoom %d of %d at (%.1f, %.1f) nm, before the surrogate chooses",
                    visited.count, initial, target.0, target.1))
        }
        let last = visited.last
        var scored: [(x: Double, y: Double, value: Double, mean: Double, deviation: Double)] = []
        for i in 0..<gridSide {
            for j in 0..<gridSide {
                let x = center.x + (2 * (Double(i) + 0.5) / Double(gridSide) - 1) * halfWidth
                let y = center.y + (2 * (Double(j) + 0.5) / Double(gridSide) - 1) * halfWidth
                let (mean, deviation) = model.predict(x: x, y: y)
                var value: Double
                switch acquisition {
                case .ucb: value = mean + kappa * deviation
                case .ei: value = Self.expectedImprovement(mean: mean, deviation: deviation, best: best + xi)
                }
                if let last { value -= travelPenalty * hypot(x - last.x, y - last.y) / 1000 }
                if visited.contains(where: { abs($0.x - x) < zoomFov && abs($0.y - y) < zoomFov }) {
                    value -= revisitPenalty
                }
                let held = observation.map.peakDose(in: region((x, y)))
                value -= dosePenalty * held / max(observation.envelope.dosePerArea, 1e-9)
                scored.append((x, y, value, mean, deviation))
            }
        }
        scored.sort { $0.value > $1.value }
        let choice = scored[0]
        visited.append((choice.x, choice.y))
        return PolicyDecision(
            .scan(region((choice.x, choice.y))),
            reason: String(
                format:
                    "%@ zoom %d of %d at (%.1f, %.1f) nm: predicted %.3f ± %.3f defects/nm² (best so far %.3f), acquisition %.4f",
                acquisition.rawValue.uppercased(), visited.count, zooms, choice.x, choice.y, choice.mean,
                choice.deviation, best, choice.value),
            candidates: scored.prefix(5).map {
                .init(
                    .scan(region(($0.x, $0.y))), score: $0.value,
                    note: String(format: "predicted %.3f ± %.3f", $0.mean, $0.deviation))
            })
    }

    private func region(_ target: (x: Double, y: Double)) -> ScanGeometry {
        ScanGeometry(
            centerX: target.x, centerY: target.y, fovX: zoomFov, width: zoomPixels, height: zoomPixels,
            dwell: zoomDwell)
    }

    /// E[max(f - best, 0)] for f ~ N(mean, deviation²).
    static func expectedImprovement(mean: Double, deviation: Double, best: Double) -> Double {
        guard deviation > 1e-12 else { return max(mean - best, 0) }
        let z = (mean - best) / deviation
        let cdf = 0.5 * erfc(-z / 2.0.squareRoot())
        let pdf = exp(-z * z / 2) / (2 * Double.pi).squareRoot()
        return (mean - best) * cdf + deviation * pdf
    }

    /// The `index`-th element of the Halton sequence in `base`, in (0, 1).
    static func halton(_ index: Int, _ base: Int) -> Double {
        var result = 0.0
        var fraction = 1.0
        var i = index
        while i > 0 {
            fraction /= Double(base)
            result += fraction * Double(i % base)
            i /= base
        }
        return result
    }

    /// Reads `parameters:` of a policy file.
    public static let factory = PolicyFactory(
        name: "active-learning",
        summary:
            "a Gaussian-process surrogate of defect density over the stage; UCB or EI with travel, revisit and dose penalties"
    ) { (node: PolicyParameters?) throws(PolicyFileError) -> any ScanPolicy in
        var policy = ActiveLearning()
        guard let node else { return policy }
        try node.only([
            "center_nm", "half_width_nm", "grid", "zoom_fov_nm", "zoom_pixels", "zoom_dwell_us", "zooms", "initial",
            "acquisition", "kappa", "xi", "length_scale_nm", "noise", "travel_penalty_per_um", "revisit_penalty",
            "dose_penalty",
        ])
        if let centre = try node.doubles("center_nm", count: 2) { policy.center = (centre[0], centre[1]) }
        policy.halfWidth = try node.double("half_width_nm", in: 0.1...100_000) ?? policy.halfWidth
        policy.gridSide = try node.int("grid", in: 2...200) ?? policy.gridSide
        policy.zoomFov = try node.double("zoom_fov_nm", in: 0.1...100_000) ?? policy.zoomFov
        policy.zoomPixels = try node.int("zoom_pixels", in: 16...16_384) ?? policy.zoomPixels
        policy.zoomDwell = try node.double("zoom_dwell_us", in: 0.01...100_000) ?? policy.zoomDwell
        policy.zooms = try node.int("zooms", in: 1...100_000) ?? policy.zooms
        policy.initial = try node.int("initial", in: 1...1000) ?? policy.initial
        if let name = try node.string("acquisition") {
            guard let chosen = Acquisition(rawValue: name) else {
                throw node.error("acquisition", "expected ucb or ei, got '\(name)'")
            }
            policy.acquisition = chosen
        }
        policy.kappa = try node.double("kappa", in: 0...100) ?? policy.kappa
        policy.xi = try node.double("xi", in: 0...100) ?? policy.xi
        policy.lengthScale = try node.double("length_scale_nm", in: 0.01...1e6) ?? policy.lengthScale
        policy.noise = try node.double("noise", in: 1e-6...100) ?? policy.noise
        policy.travelPenalty = try node.double("travel_penalty_per_um", in: 0...100) ?? policy.travelPenalty
        policy.revisitPenalty = try node.double("revisit_penalty", in: 0...1000) ?? policy.revisitPenalty
        policy.dosePenalty = try node.double("dose_penalty", in: 0...1000) ?? policy.dosePenalty
        return policy
    }
}
