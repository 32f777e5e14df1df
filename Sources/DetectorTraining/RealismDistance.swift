import Foundation
public import ImageNumerics

/// How different two sets of images look, by three documented measures, each 0 for sets drawn
/// from the same source (up to sampling): a realism model that works brings simulations nearer
/// the microscope's frames on all three.
///
/// Every measure works on tiles scaled by their image's 0.5th and 99.5th percentiles to
/// −0.9 ... 0.9 (as the CycleGAN trains), so overall brightness and gain do not count.
/// - `histogram`: the Wasserstein-1 distance between the two sets' pooled pixel values (the mean
///   absolute difference of their quantiles), in that range.
/// - `spectrum`: the root-mean-square difference, over radial frequency bins, of the sets' mean
///   log10 radial power spectra (Hann-windowed tiles): blur, noise floor and lattice peaks.
/// - `frechet`: the Fréchet distance between Gaussians fitted to feature vectors of the tiles
///   (the paper's choice, with features from a fixed network the caller provides).
public enum RealismDistance {
    /// The three distances between two sets.
    public struct Report: Sendable, Hashable, Codable {
        /// Wasserstein-1 distance of pixel values.
        public var histogram: Double
        /// RMS difference of mean log10 radial power spectra.
        public var spectrum: Double
        /// Fréchet distance of features (nil without features).
        public var frechet: Double?
    }

    /// `count` tiles of `side` pixels from `images` (random places, deterministic for `seed`),
    /// each scaled by its image's percentiles.
    public static func tiles(of images: [Image], side: Int, count: Int, seed: UInt64) -> [[Float]] {
        precondition(images.allSatisfy { $0.width >= side && $0.height >= side }, "images must hold a tile")
        let scaled = images.map { (RealismTraining.normalised($0), $0.width, $0.height) }
        var random = Draw(seed: seed)
        return (0..<count).map { k in
            let (pixels, width, height) = scaled[k % scaled.count]
            let x0 = Int(random.unit() * Double(width - side + 1)) % (width - side + 1)
            let y0 = Int(random.unit() * Double(height - side + 1)) % (height - side + 1)
            return (0..<(side * side)).map { pixels[(y0 + $0 / side) * width + x0 + $0 % side] }
        }
    }

    /// The distances between tile sets `a` and `b` (tiles of `side` pixels); `features` maps a tile
    /// to its feature vector for the Fréchet distance.
    public static func report(
        _ a: [[Float]], _ b: [[Float]], side: Int, features: (([Float]) -> [Float])? = nil
    ) -> Report {
        Report(
            histogram: histogram(a, b), spectrum: spectrum(a, b, side: side),
            frechet: features.map { f in frechet(a.map(f), b.map(f)) })
    }

    /// Wasserstein-1 distance between the pooled values of `a` and `b`.
    static func histogram(_ a: [[Float]], _ b: [[Float]]) -> Double {
        let x = a.flatMap { $0 }.sorted()
        let y = b.flatMap { $0 }.sorted()
        guard !x.isEmpty, !y.isEmpty else { return 0 }
        let quantiles = 512
        var sum = 0.0
        for q in 0..<quantiles {
            let p = (Double(q) + 0.5) / Double(quantiles)
            sum += abs(Double(x[Int(p * Double(x.count))]) - Double(y[Int(p * Double(y.count))]))
        }
        return sum / Double(quantiles)
    }

    /// The mean log10 radial power spectrum of `tiles`: `side / 2` bins from the lowest non-zero
    /// frequency to Nyquist.
    public static func radialSpectrum(_ tiles: [[Float]], side: Int) -> [Double] {
        let transform = FourierTransform2D(width: side, height: side)
        let window = (0..<side).map { Float(0.5 - 0.5 * cos(2 * Double.pi * Double($0) / Double(side))) }
        let bins = side / 2
        var mean = [Double](repeating: 0, count: bins)
        for tile in tiles {
            let average = tile.reduce(0, +) / Float(tile.count)
            var windowed = tile
            for y in 0..<side {
                for x in 0..<side { windowed[y * side + x] = (tile[y * side + x] - average) * window[x] * window[y] }
            }
            let spectrum = transform.forward(windowed)
            var power = [Double](repeating: 0, count: bins)
            var counts = [Int](repeating: 0, count: bins)
            for row in 0..<side {
                for column in 0..<transform.spectrumWidth {
                    let fx = Double(transform.frequencyX(column))
                    let fy = Double(transform.frequencyY(row))
                    let bin = Int((fx * fx + fy * fy).squareRoot() * Double(side)) - 1
                    guard bin >= 0, bin < bins else { continue }
                    let entry = 2 * (row * transform.spectrumWidth + column)
                    power[bin] += Double(spectrum[entry] * spectrum[entry] + spectrum[entry + 1] * spectrum[entry + 1])
                    counts[bin] += 1
                }
            }
            for k in 0..<bins { mean[k] += log10(max(power[k] / Double(max(counts[k], 1)), 1e-12)) }
        }
        return mean.map { $0 / Double(max(tiles.count, 1)) }
    }

    /// RMS difference of the sets' mean log10 radial power spectra.
    static func spectrum(_ a: [[Float]], _ b: [[Float]], side: Int) -> Double {
        let x = radialSpectrum(a, side: side)
        let y = radialSpectrum(b, side: side)
        return (zip(x, y).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Double(max(x.count, 1))).squareRoot()
    }

    /// The Fréchet distance between Gaussians fitted to two sets of feature vectors:
    /// |μa − μb|² + tr(Ca + Cb − 2 (Ca^½ Cb Ca^½)^½).
    public static func frechet(_ a: [[Float]], _ b: [[Float]]) -> Double {
        guard let d = a.first?.count, d > 0, a.count > 1, b.count > 1 else { return 0 }
        func moments(_ v: [[Float]]) -> ([Double], [Double]) {
            let n = Double(v.count)
            var mean = [Double](repeating: 0, count: d)
            for row in v { for k in 0..<d { mean[k] += Double(row[k]) / n } }
            var covariance = [Double](repeating: 0, count: d * d)
            for row in v {
                for i in 0..<d {
                    let di = Double(row[i]) - mean[i]
                    for j in 0..<d { covariance[i * d + j] += di * (Double(row[j]) - mean[j]) / (n - 1) }
                }
            }
            return (mean, covariance)
        }
        let (ma, ca) = moments(a)
        let (mb, cb) = moments(b)
        let shift = zip(ma, mb).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        let rootA = SymmetricMatrix.squareRoot(ca, size: d)
        let product = SymmetricMatrix.multiply(SymmetricMatrix.multiply(rootA, cb, size: d), rootA, size: d)
        let cross = SymmetricMatrix.eigenvalues(product, size: d).reduce(0) { $0 + max($1, 0).squareRoot() }
        let traces = (0..<d).reduce(0) { $0 + ca[$1 * d + $1] + cb[$1 * d + $1] }
        return max(0, shift + traces - 2 * cross)
    }
}

/// Small dense symmetric matrices (row-major), for the Fréchet distance: Jacobi eigenvalues.
enum SymmetricMatrix {
    static func multiply(_ a: [Double], _ b: [Double], size d: Int) -> [Double] {
        var out = [Double](repeating: 0, count: d * d)
        for i in 0..<d {
            for k in 0..<d where a[i * d + k] != 0 { for j in 0..<d { out[i * d + j] += a[i * d + k] * b[k * d + j] } }
        }
        return out
    }

    /// Eigenvalues and eigenvectors (columns of the second result) by cyclic Jacobi rotations.
    static func eigen(_ matrix: [Double], size d: Int) -> (values: [Double], vectors: [Double]) {
        var a = matrix
        // Symmetrise: sums of outer products are symmetric only up to rounding.
        for i in 0..<d {
            for j in 0..<i { let m = (a[i * d + j] + a[j * d + i]) / 2; a[i * d + j] = m; a[j * d + i] = m }
        }
        var v = [Double](repeating: 0, count: d * d)
        for i in 0..<d { v[i * d + i] = 1 }
        for _ in 0..<100 {
            var off = 0.0
            for i in 0..<d { for j in 0..<d where i != j { off += a[i * d + j] * a[i * d + j] } }
            if off < 1e-20 { break }
            for p in 0..<d {
                for q in (p + 1)..<d where abs(a[p * d + q]) > 1e-300 {
                    let theta = (a[q * d + q] - a[p * d + p]) / (2 * a[p * d + q])
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot()
                    let s = t * c
                    for k in 0..<d {
                        let akp = a[k * d + p]
                        let akq = a[k * d + q]
                        a[k * d + p] = c * akp - s * akq
                        a[k * d + q] = s * akp + c * akq
                    }
                    for k in 0..<d {
                        let apk = a[p * d + k]
                        let aqk = a[q * d + k]
                        a[p * d + k] = c * apk - s * aqk
                        a[q * d + k] = s * apk + c * aqk
                    }
                    for k in 0..<d {
                        let vkp = v[k * d + p]
                        let vkq = v[k * d + q]
                        v[k * d + p] = c * vkp - s * vkq
                        v[k * d + q] = s * vkp + c * vkq
                    }
                }
            }
        }
        return ((0..<d).map { a[$0 * d + $0] }, v)
    }

    static func eigenvalues(_ matrix: [Double], size d: Int) -> [Double] { eigen(matrix, size: d).values }

    /// The square root of a positive semi-definite matrix (negative eigenvalues, rounding, as 0).
    static func squareRoot(_ matrix: [Double], size d: Int) -> [Double] {
        let (values, vectors) = eigen(matrix, size: d)
        var out = [Double](repeating: 0, count: d * d)
        for k in 0..<d {
            let root = max(values[k], 0).squareRoot()
            guard root > 0 else { continue }
            for i in 0..<d { for j in 0..<d { out[i * d + j] += vectors[i * d + k] * root * vectors[j * d + k] } }
        }
        return out
    }
}
