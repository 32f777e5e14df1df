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
        (-2 * log(max(uniform(), 1e-300))).squareRoot() * cos(2 * .pi * uniform())
    }

    /// A Poisson sample with mean `lambda`: Knuth's method for small means, a rounded normal for
    /// large ones (error far below the shot noise itself).
    mutating func poisson(_ lambda: Double) -> Double {
        guard lambda > 0 else { return 0 }
        if lambda < 30 {
            let limit = exp(-lambda)
            var k = 0.0
            var p = uniform()
            while p > limit {
                k += 1
                p *= uniform()
            }
            return k
        }
        return max(0, (lambda + lambda.squareRoot() * gaussian()).rounded())
    }
}
