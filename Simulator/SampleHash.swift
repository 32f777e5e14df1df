import Foundation

/// Deterministic pseudo-random numbers keyed by position: the same seed and lattice index always
/// give the same value, so any region of the sample can be generated on demand and a revisit sees
/// the same atoms.
enum SampleHash {
    /// A well-mixed 64-bit hash of the inputs (SplitMix64 finaliser over a combination).
    static func hash(_ seed: UInt64, _ a: Int, _ b: Int = 0, _ c: Int = 0) -> UInt64 {
        var z = seed &+ 0x9E37_79B9_7F4A_7C15
        for value in [a, b, c] {
            z ^= UInt64(bitPattern: Int64(value)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
        }
        return z
    }

    /// Uniform in [0, 1).
    static func uniform(_ seed: UInt64, _ a: Int, _ b: Int = 0, _ c: Int = 0) -> Double {
        Double(hash(seed, a, b, c) >> 11) / Double(1 << 53)
    }

    /// Standard normal (Box-Muller on two hashed uniforms).
    static func gaussian(_ seed: UInt64, _ a: Int, _ b: Int = 0, _ c: Int = 0) -> Double {
        let u1 = max(uniform(seed, a, b, c), 1e-12)
        let u2 = uniform(seed ^ 0xA5A5_A5A5_A5A5_A5A5, a, b, c)
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}

/// A small seeded generator for per-frame noise (not position-keyed).
struct NoiseGenerator: RandomNumberGenerator {
    private var state: UInt64
    /// Box-Muller makes normals in pairs; the second waits here.
    private var spare: Double?

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }

    mutating func gaussian() -> Double {
        if let spare {
            self.spare = nil
            return spare
        }
        let radius = (-2 * log(max(uniform(), 1e-300))).squareRoot()
        let angle = 2 * Double.pi * uniform()
        spare = radius * sin(angle)
        return radius * cos(angle)
    }

    /// A standard normal from `table` (``normalQuantiles``): the same distribution to within
    /// 1/4096 in probability, at the cost of one random number. For detector read noise.
    mutating func tabulatedGaussian(_ table: [Double]) -> Double { table[Int(next() >> 52)] }

    /// 4096 quantiles of the standard normal, at the centres of equal-probability bins.
    static let normalQuantiles: [Double] = (0..<4096).map { i in
        inverseNormal((Double(i) + 0.5) / 4096)
    }

    /// The standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9).
    private static func inverseNormal(_ p: Double) -> Double {
        let a = [
            -39.696_830_286_653_76, 220.946_098_424_520_5, -275.928_510_446_968_7, 138.357_751_867_269,
            -30.664_798_066_147_16, 2.506_628_277_459_239,
        ]
        let b = [
            -54.476_098_798_224_06, 161.585_836_858_040_9, -155.698_979_859_886_6, 66.801_311_887_719_72,
            -13.280_681_552_885_72,
        ]
        let c = [
            -0.007_784_894_002_430_293, -0.322_396_458_041_136_4, -2.400_758_277_161_838, -2.549_732_539_343_734,
            4.374_664_141_464_968, 2.938_163_982_698_783,
        ]
        let d = [0.007_784_695_709_041_462, 0.322_467_129_070_039_8, 2.445_134_137_142_996, 3.754_408_661_907_416]
        if p < 0.024_25 {
            let q = (-2 * log(p)).squareRoot()
            return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        if p > 1 - 0.024_25 { return -inverseNormal(1 - p) }
        let q = p - 0.5
        let r = q * q
        return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    }

    /// A Poisson sample with mean `lambda`: inversion of the cumulative distribution (one uniform)
    /// below 10, Hörmann's transformed rejection (PTRS, exact, constant time) above.
    mutating func poisson(_ lambda: Double) -> Double {
        guard lambda > 0 else { return 0 }
        if lambda < 10 {
            let u = uniform()
            var k = 0.0
            var p = exp(-lambda)
            var cumulative = p
            while u > cumulative && k < 100 {
                k += 1
                p *= lambda / k
                cumulative += p
            }
            return k
        }
        let root = lambda.squareRoot()
        let logLambda = log(lambda)
        let b = 0.931 + 2.53 * root
        let a = -0.059 + 0.024_83 * b
        let inverseAlpha = 1.1239 + 1.1328 / (b - 3.4)
        let vr = 0.9277 - 3.6224 / (b - 2)
        while true {
            let u = uniform() - 0.5
            let v = uniform()
            let us = 0.5 - abs(u)
            let k = ((2 * a / us + b) * u + lambda + 0.43).rounded(.down)
            if us >= 0.07 && v <= vr { return k }
            if k < 0 || (us < 0.013 && v > us) { continue }
            if log(v) + log(inverseAlpha) - log(a / (us * us) + b) <= -lambda + k * logLambda - lgamma(k + 1) {
                return k
            }
        }
    }
}
