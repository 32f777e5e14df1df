import Foundation
import ImageNumerics

/// Hand-made descriptors of one chip.
enum ChipDescriptors {
    /// Radial bins of the Fourier descriptor.
    static let radialBins = 8
    /// Angular bins (over 0 ..< π; the power spectrum of a real image is symmetric).
    static let angularBins = 6

    /// The Fourier descriptor: the chip's log power spectrum (mean removed, Hann window) binned
    /// radially and angularly. Per radial ring: the log mean power, then the ring's angular profile
    /// sorted from strongest to weakest and divided by its mean. A crystal puts its power in a few
    /// angular bins of a few rings; disorder spreads it evenly; noise flattens it. Sorting makes
    /// the descriptor the same for a lattice at any rotation, so grains of one kind match.
    /// `radialBins · (1 + angularBins)` values.
    /// The bin (radial · angularBins + angular) of every half-spectrum entry, or −1 for DC and
    /// frequencies beyond Nyquist; computed once per chip size.
    static func bins(side: Int, transform: FourierTransform2D) -> [Int] {
        var bins = [Int](repeating: -1, count: side * transform.spectrumWidth)
        for row in 0..<side {
            let fy = Double(transform.frequencyY(row))
            for column in 0..<transform.spectrumWidth {
                let fx = Double(transform.frequencyX(column))
                let k = (fx * fx + fy * fy).squareRoot()
                guard k > 0, k <= 0.5 else { continue }
                let radial = min(radialBins - 1, Int(k / 0.5 * Double(radialBins)))
                var angle = atan2(fy, fx)
                if angle < 0 { angle += .pi }
                let angular = min(angularBins - 1, Int(angle / .pi * Double(angularBins)))
                bins[row * transform.spectrumWidth + column] = radial * angularBins + angular
            }
        }
        return bins
    }

    static func fourier(
        _ chip: [Float], side: Int, transform: FourierTransform2D, window: [Float], bins: [Int]
    ) -> [Float] {
        let mean = chip.reduce(0, +) / Float(chip.count)
        var windowed = [Float](repeating: 0, count: chip.count)
        for y in 0..<side {
            for x in 0..<side { windowed[y * side + x] = (chip[y * side + x] - mean) * window[x] * window[y] }
        }
        let spectrum = transform.forward(windowed)
        var sums = [Double](repeating: 0, count: radialBins * angularBins)
        var counts = [Int](repeating: 0, count: radialBins * angularBins)
        for (entry, bin) in bins.enumerated() where bin >= 0 {
            let re = Double(spectrum[2 * entry])
            let im = Double(spectrum[2 * entry + 1])
            sums[bin] += re * re + im * im
            counts[bin] += 1
        }
        var descriptor: [Float] = []
        descriptor.reserveCapacity(radialBins * (1 + angularBins))
        let scale = 1 / Double(side * side)
        for r in 0..<radialBins {
            var profile = (0..<angularBins).map { a in
                counts[r * angularBins + a] > 0
                    ? sums[r * angularBins + a] / Double(counts[r * angularBins + a]) * scale : 0
            }
            let ringMean = profile.reduce(0, +) / Double(angularBins)
            descriptor.append(Float(log10(ringMean + 1e-6)))
            profile.sort(by: >)
            for value in profile { descriptor.append(Float(ringMean > 0 ? value / ringMean : 1)) }
        }
        return descriptor
    }

    /// Intensity statistics: mean, standard deviation, skewness, excess kurtosis, and the 10th,
    /// 50th and 90th percentiles.
    static func intensity(_ chip: [Float]) -> [Float] {
        let n = Double(chip.count)
        let mean = chip.reduce(0.0) { $0 + Double($1) } / n
        var m2 = 0.0
        var m3 = 0.0
        var m4 = 0.0
        for v in chip {
            let d = Double(v) - mean
            m2 += d * d
            m3 += d * d * d
            m4 += d * d * d * d
        }
        m2 /= n
        m3 /= n
        m4 /= n
        let deviation = m2.squareRoot()
        // Percentiles by selection, not sorting: each selection narrows the range the next searches.
        var values = chip
        let ranks = [0.1, 0.5, 0.9].map { min(values.count - 1, Int($0 * Double(values.count - 1))) }
        var low = 0
        var percentiles: [Float] = []
        for rank in ranks {
            select(&values, rank: rank, from: low)
            percentiles.append(values[rank])
            low = rank
        }
        return [
            Float(mean), Float(deviation), Float(deviation > 0 ? m3 / (m2 * deviation) : 0),
            Float(m2 > 0 ? m4 / (m2 * m2) - 3 : 0),
        ] + percentiles
    }

    /// Moves the element of rank `rank` to its sorted place, smaller ones before it and larger after
    /// (Hoare's selection, middle pivot), looking only at `values[from...]`.
    static func select(_ values: inout [Float], rank: Int, from: Int) {
        var low = from
        var high = values.count - 1
        while low < high {
            let pivot = values[(low + high) / 2]
            var i = low
            var j = high
            while i <= j {
                while values[i] < pivot { i += 1 }
                while values[j] > pivot { j -= 1 }
                if i <= j {
                    values.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if rank <= j {
                high = j
            } else if rank >= i {
                low = i
            } else {
                return
            }
        }
    }

    /// A Hann window of `side` points.
    static func hann(_ side: Int) -> [Float] {
        (0..<side).map { Float(0.5 - 0.5 * cos(2 * Double.pi * Double($0) / Double(side))) }
    }
}
