import Foundation
import ImageNumerics

/// Hand-made descriptors of one chip.
enum ChipDescriptors {
    /// Radial rings of the Fourier descriptor.
    static let radialBins = 8
    /// Width of a ring in units of the lattice's first-order frequency, when the lattice is known:
    /// the rings then cover 0 to 2.4 times it (the first order falls in the fourth ring, the √3 and
    /// second orders in the sixth and seventh), whatever the pixel size.
    static let latticeRingWidth = 0.3
    /// Values of the Fourier block per chip: each ring's power, then the lattice order.
    static let fourierWidth = radialBins + 1
    /// The band of the lattice order, in units of the lattice's first-order frequency.
    static let orderBand = 0.8..<1.25
    /// Values of the intensity block per chip.
    static let intensityWidth = 7

    /// Which ring each half-spectrum entry of a `side`-pixel chip falls in, and which entries
    /// measure the noise floor.
    struct Rings {
        /// Ring of every entry; −1 for DC, frequencies outside the rings, and the noise band.
        var bins: [Int]
        /// Entries whose power is the white noise floor: frequencies above 0.8 Nyquist, when they lie
        /// beyond every ring (empty otherwise: the floor is then 0).
        var noise: [Int]
        /// Frequencies (row, column; signed, in spectrum samples) of the lattice order's band,
        /// each with where it goes when turned by 60° and 120° (onto a hexagonal lattice's own
        /// spots) and by 30° and 90° (between them). Empty without a lattice.
        var order: [(y: Int, x: Int, onto: [(y: Double, x: Double)], between: [(y: Double, x: Double)])]
    }

    /// The rings of a `side`-pixel chip. With `latticeFrequency` (cycles per pixel of the lattice's
    /// first order) rings are `latticeRingWidth` of it wide; without, they divide 0 ... Nyquist evenly.
    static func rings(side: Int, transform: FourierTransform2D, latticeFrequency: Double?) -> Rings {
        let ringWidth = latticeFrequency.map { $0 * latticeRingWidth } ?? 0.5 / Double(radialBins)
        let outer = ringWidth * Double(radialBins)
        var bins = [Int](repeating: -1, count: side * transform.spectrumWidth)
        var noise: [Int] = []
        for row in 0..<side {
            let fy = Double(transform.frequencyY(row))
            for column in 0..<transform.spectrumWidth {
                let fx = Double(transform.frequencyX(column))
                let k = (fx * fx + fy * fy).squareRoot()
                let entry = row * transform.spectrumWidth + column
                if k > 0.4 && k <= 0.5 && outer < 0.4 {
                    noise.append(entry)
                    continue
                }
                guard k > 0, k < outer, k <= 0.5 else { continue }
                bins[entry] = min(radialBins - 1, Int(k / ringWidth))
            }
        }
        var order: [(y: Int, x: Int, onto: [(y: Double, x: Double)], between: [(y: Double, x: Double)])] = []
        if let latticeFrequency {
            let half = side / 2 - 1
            for y in -half...max(-half, half) {
                for x in -half...max(-half, half) {
                    let k = (Double(x * x + y * y)).squareRoot() / Double(side) / latticeFrequency
                    guard orderBand.contains(k) else { continue }
                    func turned(_ angle: Double) -> (y: Double, x: Double) {
                        (
                            Double(y) * cos(angle) + Double(x) * sin(angle),
                            -Double(y) * sin(angle) + Double(x) * cos(angle)
                        )
                    }
                    order.append((y, x, [turned(.pi / 3), turned(2 * .pi / 3)], [turned(.pi / 6), turned(.pi / 2)]))
                }
            }
        }
        return Rings(bins: bins, noise: noise, order: order)
    }

    /// A chip's spectrum summarised per ring, before the frame's reference scales it.
    struct Spectrum {
        /// Mean power per ring, the noise floor subtracted (may be negative: noise).
        var ringPower: [Double]
        /// Six-fold order of the spectrum around the lattice's first order: the correlation of the
        /// band's amplitude with itself turned by 60° and 120°, less that turned by 30° and 90°,
        /// over its variance. Above 1 for a hexagonal lattice at any rotation (turned by 60° it
        /// falls on itself, by 30° between its spots), about 0 for amorphous material, vacuum
        /// and noise; it does not change with brightness or blur. 0 without a lattice period.
        var latticeOrder: Double
    }

    /// The spectrum of a chip: power spectrum of the chip, mean removed, under a Hann window
    /// (normalised by the window's energy, so it does not depend on the chip's size).
    static func spectrum(
        _ chip: [Float], side: Int, transform: FourierTransform2D, window: [Float], rings: Rings
    ) -> Spectrum {
        let mean = chip.reduce(0, +) / Float(chip.count)
        var windowed = [Float](repeating: 0, count: chip.count)
        var energy = 0.0
        for y in 0..<side {
            for x in 0..<side {
                let w = window[x] * window[y]
                windowed[y * side + x] = (chip[y * side + x] - mean) * w
                energy += Double(w * w)
            }
        }
        let transformed = transform.forward(windowed)
        func power(_ entry: Int) -> Double {
            let re = Double(transformed[2 * entry])
            let im = Double(transformed[2 * entry + 1])
            return (re * re + im * im) / max(energy, 1e-12)
        }
        var sums = [Double](repeating: 0, count: radialBins)
        var counts = [Int](repeating: 0, count: radialBins)
        for (entry, bin) in rings.bins.enumerated() where bin >= 0 {
            sums[bin] += power(entry)
            counts[bin] += 1
        }
        let floor = rings.noise.isEmpty ? 0 : rings.noise.reduce(0) { $0 + power($1) } / Double(rings.noise.count)
        let ringPower = (0..<radialBins).map { r in counts[r] > 0 ? sums[r] / Double(counts[r]) - floor : 0 }
        return Spectrum(
            ringPower: ringPower,
            latticeOrder: latticeOrder(
                side: side, spectrumWidth: transform.spectrumWidth, rings: rings, power: { power($0).squareRoot() }))
    }

    /// The six-fold order of `Spectrum.latticeOrder`, with the amplitude at signed frequencies read
    /// from the half spectrum (the spectrum of a real image is symmetric) and interpolated
    /// bilinearly. Amplitudes, not powers: a lattice's spots stand out either way, while noise's
    /// power is exponentially distributed and a few bright samples would make a pattern of it.
    static func latticeOrder(side: Int, spectrumWidth: Int, rings: Rings, power: (Int) -> Double) -> Double {
        guard rings.order.count > 2 else { return 0 }
        func at(_ y: Int, _ x: Int) -> Double {
            let (row, column) = x >= 0 ? (y, x) : (-y, -x)
            guard column < spectrumWidth, abs(row) < side else { return 0 }
            return power(((row % side) + side) % side * spectrumWidth + column)
        }
        func interpolated(_ p: (y: Double, x: Double)) -> Double {
            let y0 = Int(p.y.rounded(.down))
            let x0 = Int(p.x.rounded(.down))
            let fy = p.y - Double(y0)
            let fx = p.x - Double(x0)
            return (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1))
                + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1))
        }
        let values = rings.order.map { at($0.y, $0.x) }
        let mean = values.reduce(0, +) / Double(values.count)
        var variance = 0.0
        var same = 0.0
        var between = 0.0
        for (entry, value) in zip(rings.order, values) {
            let centred = value - mean
            variance += centred * centred
            for p in entry.onto { same += centred * (interpolated(p) - mean) }
            for p in entry.between { between += centred * (interpolated(p) - mean) }
        }
        return variance > 0 ? (same - between) / (2 * variance) : 0
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

    /// The `fraction` quantile of `values` (by selection; 0 for none).
    static func percentile(_ values: [Float], _ fraction: Double) -> Float {
        guard !values.isEmpty else { return 0 }
        var copy = values
        let rank = min(copy.count - 1, max(0, Int(fraction * Double(copy.count - 1))))
        select(&copy, rank: rank, from: 0)
        return copy[rank]
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
