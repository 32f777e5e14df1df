import Foundation
import ImageNumerics
import Simulator
import Testing
import WireProtocol

/// A sample that is clean lattice everywhere near the origin (no zones), with chosen vacancies.
func uniformSample(se1: Double = 0.002, se2: Double = 0.0002, w: Double = 0.0001, knockOn: Double = 1e-12) -> Sample {
    var layout = SampleLayout.standard(seed: 42)
    layout.holes = []
    layout.vacancyRich = []
    layout.damaged = []
    layout.contamination = []
    layout.pristineVacancies = VacancyConcentrations(se1: se1, se2: se2, w: w)
    return Sample(layout: layout, knockOnCrossSection: knockOn)
}

func atomicScan(x: Double = 0, y: Double = 0, fov: Double = 8, pixels: Int = 256, dwell: Double = 20) -> ScanGeometry {
    ScanGeometry(centerX: x, centerY: y, fovX: fov, width: pixels, height: pixels, dwell: dwell)
}

@Suite("Virtual microscope physics")
struct PhysicsTests {
    @Test("a pristine frame's power spectrum peaks at the WSe2 {100} spacing for the pixel size")
    func latticePeak() {
        let scope = VirtualMicroscope(sample: uniformSample())
        let scan = atomicScan(fov: 10.24, pixels: 256)
        let image = scope.acquire(scan, channels: ["HAADF"], deposit: false).channels["HAADF"]!
        let fft = FourierTransform2D(width: 256, height: 256)
        let mean = image.mean
        let spectrum = fft.forward(image.pixels.map { $0 - mean })
        var best = (radius: 0.0, power: Float(0))
        for row in 0..<256 {
            for column in 0..<fft.spectrumWidth {
                let fx = Double(fft.frequencyX(column)) / scan.pixelSizeX
                let fy = Double(fft.frequencyY(row)) / scan.pixelSizeX
                let radius = (fx * fx + fy * fy).squareRoot()
                guard radius > 1 else { continue }  // skip the slow background
                let i = 2 * (row * fft.spectrumWidth + column)
                let power = spectrum[i] * spectrum[i] + spectrum[i + 1] * spectrum[i + 1]
                if power > best.power { best = (radius, power) }
            }
        }
        let expected = 1 / (WSe2Lattice.a * 3.0.squareRoot() / 2)  // 3.52 per nm
        let resolution = 1 / (scan.pixelSizeX * 256)  // one frequency bin
        #expect(abs(best.radius - expected) < 1.5 * resolution, "peak at \(best.radius)/nm, lattice \(expected)/nm")
    }

    @Test("a single-Se column gives about half the signal of an Se2 column")
    func seleniumColumns() {
        let scope = VirtualMicroscope(sample: uniformSample(se1: 0.3, se2: 0.05))
        let scan = atomicScan(fov: 8, pixels: 400)
        let frame = scope.acquire(scan, channels: ["HAADF"], deposit: false)
        let expected = frame.expected["HAADF"]!
        func mean(_ kind: AtomColumn.Kind) -> Double {
            let values = frame.truth.columns.filter { $0.kind == kind }.map {
                Double(expected.sample(x: Float($0.x), y: Float($0.y)))
            }
            return values.reduce(0, +) / Double(values.count)
        }
        // The background under a column: the signal at empty Se sites (double vacancies).
        let empty = frame.truth.defects.filter { $0.kind == .se2 }.map {
            Double(expected.sample(x: Float($0.x), y: Float($0.y)))
        }
        let background = empty.reduce(0, +) / Double(max(empty.count, 1))
        #expect(!empty.isEmpty)
        let ratio = (mean(.se1) - background) / (mean(.se2) - background)
        #expect(ratio > 0.4 && ratio < 0.6, "Se1/Se2 above background: \(ratio)")
        #expect(mean(.w) > mean(.se2), "W columns must be brighter than Se2 columns in HAADF")
    }

    @Test("the shot-noise-limited signal-to-noise ratio grows as the square root of the dose")
    func snrScalesWithDose() {
        // Read noise is the same at every dose; take it away to see the shot noise alone.
        var detector = Detector.haadf
        detector.readNoise = 0
        func snr(dwell: Double) -> Double {
            let scope = VirtualMicroscope(sample: uniformSample(), detectors: [detector], noiseSeed: 7)
            let frame = scope.acquire(atomicScan(dwell: dwell), channels: ["HAADF"], deposit: false)
            let expected = frame.expected["HAADF"]!.pixels
            let noisy = frame.channels["HAADF"]!.pixels
            let signal = expected.reduce(0, +) / Float(expected.count)
            var residual: [Double] = []
            for (e, n) in zip(expected, noisy) {
                residual.append((Double(n) - detector.offset) / detector.gain - Double(e))
            }
            let m = residual.reduce(0, +) / Double(residual.count)
            let noise = (residual.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(residual.count)).squareRoot()
            return Double(signal) / noise
        }
        let ratio = snr(dwell: 64) / snr(dwell: 4)
        #expect(abs(ratio - 4) < 0.4, "16x the dose should give 4x the SNR, got \(ratio)x")
    }

    @Test("defocus spreads the probe")
    func defocusBlurs() {
        func spread(_ defocus: Double) -> (peak: Float, radius: Double) {
            var optics = ProbeOptics()
            optics.defocus = defocus
            let n = 128
            let pixel = 0.01
            let probe = optics.intensity(width: n, height: n, pixel: pixel)
            var second = 0.0
            for row in 0..<n {
                for column in 0..<n {
                    let dx = Double(column <= n / 2 ? column : column - n) * pixel
                    let dy = Double(row <= n / 2 ? row : row - n) * pixel
                    second += Double(probe[row * n + column]) * (dx * dx + dy * dy)
                }
            }
            return (probe.max()!, second.squareRoot())
        }
        let focused = spread(0)
        let blurred = spread(8)
        #expect(focused.peak > 2 * blurred.peak, "peak \(focused.peak) in focus, \(blurred.peak) at 8 nm defocus")
        #expect(blurred.radius > focused.radius)
    }

    @Test("the same seed and position give the same frame, and a revisit shows the same atoms")
    func determinism() {
        let scan = atomicScan(x: 37, y: -12, fov: 4, pixels: 128)
        let a = VirtualMicroscope(noiseSeed: 3).acquire(scan, deposit: false)
        let b = VirtualMicroscope(noiseSeed: 3).acquire(scan, deposit: false)
        #expect(a.channels["HAADF"] == b.channels["HAADF"])
        #expect(a.channels["MAADF"] == b.channels["MAADF"])
        let c = VirtualMicroscope(noiseSeed: 4).acquire(scan, deposit: false)
        #expect(c.channels["HAADF"] != a.channels["HAADF"], "other noise")
        // Without scan distortion (whose jitter is random), other noise shows the same atoms.
        let d = VirtualMicroscope(distortion: .none, noiseSeed: 5).acquire(scan, deposit: false)
        let e = VirtualMicroscope(distortion: .none, noiseSeed: 6).acquire(scan, deposit: false)
        #expect(d.truth.columns == e.truth.columns, "same atoms")
        #expect(d.truth.defects == e.truth.defects)
        #expect(!d.truth.columns.isEmpty)
    }

    @Test("dose knocks selenium out: revisits show more vacancies")
    func revisitsDamage() {
        let scope = VirtualMicroscope(sample: uniformSample(knockOn: 2e-6))
        let scan = atomicScan(fov: 6, pixels: 128, dwell: 50)
        var counts: [Int] = []
        for _ in 0..<4 {
            counts.append(scope.acquire(scan, channels: ["HAADF"]).truth.defects.filter { $0.kind != .w }.count)
        }
        #expect(counts == counts.sorted(), "vacancies never heal: \(counts)")
        #expect(counts.last! > counts.first!, "the dose must create vacancies: \(counts)")
        #expect(scope.dose.dose(atX: 0, y: 0) > 0)
        #expect(scope.dose.dose(atX: 500, y: 500) == 0)
    }

    @Test("the standard sample has every kind of region, and survey frames render from the region map")
    func regions() {
        let scope = VirtualMicroscope()
        let survey = ScanGeometry(centerX: 0, centerY: 0, fovX: 800, width: 200, height: 200, dwell: 20)
        let frame = scope.acquire(survey, channels: ["HAADF"], deposit: false)
        let kinds = Set(frame.truth.regions)
        for kind in [RegionKind.vacuum, .pristine, .vacancyRich, .damaged, .contaminated] {
            #expect(kinds.contains(UInt8(kind.rawValue)), "no \(kind) in the central survey")
        }
        #expect(frame.truth.columns.isEmpty, "no atoms listed for a survey frame")
        // Vacuum is dark, lattice bright.
        let expected = frame.expected["HAADF"]!.pixels
        func mean(_ kind: RegionKind) -> Float {
            let values = zip(frame.truth.regions, expected).filter { $0.0 == UInt8(kind.rawValue) }.map(\.1)
            return values.reduce(0, +) / Float(values.count)
        }
        // Pixels on a hole's rim are labelled by their centre but average four samples.
        #expect(mean(.vacuum) < 0.05 * mean(.pristine))
        #expect(mean(.contaminated) > mean(.pristine))
        #expect(scope.sample.region(atX: 5000, y: 0) == .vacuum, "outside the flake")
    }

    @Test("drift moves features by velocity x elapsed time, in the image and in the ground truth")
    func driftShiftsFeatures() {
        var distortion = ScanDistortion.none
        let scan = atomicScan(fov: 5.12, pixels: 256, dwell: 20)
        let frameTime = 256 * (256 * 20 + distortion.flybackTime) * 1e-6
        // Four pixels of drift along x between the starts of two consecutive frames.
        distortion.driftVelocityX = 4 * scan.pixelSizeX / frameTime
        let scope = VirtualMicroscope(sample: uniformSample(), distortion: distortion)
        let first = scope.acquire(scan, channels: ["HAADF"], deposit: false)
        let second = scope.acquire(scan, channels: ["HAADF"], deposit: false)
        #expect(abs(second.drift.x - first.drift.x - 4 * scan.pixelSizeX) < 1e-9)

        // Ground truth: the columns moved by 4 px along x.
        let moved = second.truth.columns.compactMap { b -> Double? in
            first.truth.columns.first { abs($0.x + 4 - b.x) < 0.5 && abs($0.y - b.y) < 0.5 }.map { b.x - $0.x }
        }
        #expect(moved.count > 100)
        #expect(abs(moved.reduce(0, +) / Double(moved.count) - 4) < 0.05)

        // The image: cross-correlation peaks at a shift of (4, 0).
        let fft = FourierTransform2D(width: 256, height: 256)
        let a = fft.forward(first.expected["HAADF"]!.pixels)
        var b = fft.forward(second.expected["HAADF"]!.pixels)
        for i in stride(from: 0, to: b.count, by: 2) {
            let (re, im) = (b[i] * a[i] + b[i + 1] * a[i + 1], b[i + 1] * a[i] - b[i] * a[i + 1])
            (b[i], b[i + 1]) = (re, im)
        }
        let correlation = fft.inverse(b)
        let peak = correlation.indices.max { correlation[$0] < correlation[$1] }!
        #expect(peak % 256 == 4 && peak / 256 == 0, "correlation peak at (\(peak % 256), \(peak / 256))")
    }

    @Test("the stage lands near its target, loses travel to backlash on reversal, and takes time")
    func stage() {
        var model = StageModel()
        model.positioningError = 0
        model.readbackError = 0
        model.backlash = 5
        let scope = VirtualMicroscope(stageModel: model)
        let first = scope.moveStage(toX: 100, y: 0)
        #expect(first.x == 100)
        let back = scope.moveStage(toX: 50, y: 0)
        #expect(back.x == 55, "reversing loses the backlash: \(back.x)")
        #expect(scope.clock >= 2 * model.settleTime)
    }
}

@Suite("Render grid sizes")
struct RenderGridTests {
    @Test("convolution grids have only small prime factors, and are never smaller than asked")
    func fastSizes() {
        for n in [16, 100, 577, 592, 1000, 1090, 2049] {
            let size = ImageFormationSizes.fastSize(n)
            #expect(size >= n && size % 2 == 0)
            var m = size
            for p in [2, 3, 5, 7] { while m % p == 0 { m /= p } }
            #expect(m == 1, "\(size) for \(n)")
            #expect(size - n < n / 8 + 16, "\(size) is much larger than \(n)")
        }
    }
}
