import Foundation

/// A Gaussian-process regression over positions in the plane: squared-exponential kernel, constant
/// mean (the observations' mean), Gaussian observation noise. Small and exact (Cholesky), for the
/// tens to hundreds of observations a session makes.
struct GaussianProcess {
    /// Kernel length scale, nm.
    var lengthScale: Double
    /// Prior standard deviation of the target around its mean (nil: the observations' own).
    var signal: Double?
    /// Observation noise standard deviation, in the target's units.
    var noise: Double

    private var points: [(x: Double, y: Double)] = []
    private var values: [Double] = []
    private var mean = 0.0
    private var variance = 1.0
    private var cholesky: [Double] = []
    private var alpha: [Double] = []

    init(lengthScale: Double, signal: Double? = nil, noise: Double) {
        self.lengthScale = lengthScale
        self.signal = signal
        self.noise = noise
    }

    /// Refits with every observation so far plus (x, y) -> value.
    mutating func add(x: Double, y: Double, value: Double) {
        points.append((x, y))
        values.append(value)
        fit()
    }

    private func kernel(_ a: (x: Double, y: Double), _ b: (x: Double, y: Double)) -> Double {
        let d2 = (a.x - b.x) * (a.x - b.x) + (a.y - b.y) * (a.y - b.y)
        return variance * exp(-d2 / (2 * lengthScale * lengthScale))
    }

    private mutating func fit() {
        let n = values.count
        mean = values.reduce(0, +) / Double(n)
        let spread = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(n - 1, 1))
        variance = signal.map { $0 * $0 } ?? max(spread, noise * noise, 1e-12)
        var k = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                let value = kernel(points[i], points[j]) + (i == j ? noise * noise + 1e-9 * variance : 0)
                k[i * n + j] = value
                k[j * n + i] = value
            }
        }
        // Cholesky factor L (lower), K = L Lᵀ.
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var sum = k[i * n + j]
                for p in 0..<j { sum -= l[i * n + p] * l[j * n + p] }
                l[i * n + j] = i == j ? sum.squareRoot() : sum / l[j * n + j]
            }
        }
        cholesky = l
        alpha = solve(values.map { $0 - mean })
    }

    /// K⁻¹ b through the Cholesky factor.
    private func solve(_ b: [Double]) -> [Double] {
        let n = b.count
        var z = b
        for i in 0..<n {
            for p in 0..<i { z[i] -= cholesky[i * n + p] * z[p] }
            z[i] /= cholesky[i * n + i]
        }
        for i in stride(from: n - 1, through: 0, by: -1) {
            for p in (i + 1)..<n { z[i] -= cholesky[p * n + i] * z[p] }
            z[i] /= cholesky[i * n + i]
        }
        return z
    }

    /// Posterior mean and standard deviation at (x, y).
    func predict(x: Double, y: Double) -> (mean: Double, deviation: Double) {
        guard !values.isEmpty else { return (0, signal ?? 1) }
        let n = values.count
        let kStar = points.map { kernel($0, (x, y)) }
        let mu = mean + zip(kStar, alpha).reduce(0) { $0 + $1.0 * $1.1 }
        // v = L⁻¹ k*, variance = k(x, x) - vᵀv.
        var v = kStar
        for i in 0..<n {
            for p in 0..<i { v[i] -= cholesky[i * n + p] * v[p] }
            v[i] /= cholesky[i * n + i]
        }
        let rest = variance - v.reduce(0) { $0 + $1 * $1 }
        return (mu, max(rest, 0).squareRoot())
    }
}
