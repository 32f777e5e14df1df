import Foundation
import ImageNumerics
import WireProtocol

/// Incoherent ADF image formation.
///
/// At atomic resolution (pixels up to 0.5 Å) every atom column is placed on the pixel grid with its
/// cross-section and the result is convolved (FFTW) with the probe intensity and source blur. At
/// survey magnification the mean scattering per area of each pixel's region is used instead, which
/// is what the atoms would average to and costs nothing per atom.
final class ImageFormation {
    /// Pixels larger than this (nm) are rendered from the region map.
    static let surveyPixel = 0.05

    private struct TransferKey: Hashable {
        let width: Int
        let height: Int
        let pixel: Double
        let optics: ProbeOptics
    }

    private var transfers: [TransferKey: (FourierTransform2D, [Float])] = [:]

    /// Pixels of room the probe's tails need around an atomic-resolution frame: a corrected probe
    /// fades within about 0.6 nm; defocus widens it by C1 x alpha.
    static func probePadding(pixel: Double, optics: ProbeOptics) -> Int {
        let reach = 0.6 + 1.5 * abs(optics.defocus) * optics.convergence * 1e-3 + 0.5 * optics.sourceSize
        return max(16, Int((reach / pixel).rounded(.up)))
    }

    static func fastSize(_ n: Int) -> Int { ImageFormationSizes.fastSize(n) }

    /// The atom columns an atomic-resolution frame needs (its area plus the probe padding).
    static func columns(
        for scan: ScanGeometry, sample: Sample, dose: DoseMap, optics: ProbeOptics
    ) -> (
        columns: [AtomColumn], defects: [PointDefect]
    ) {
        let frame = ScanFrame(scan)
        let bounds = frame.bounds(margin: probePadding(pixel: frame.pixelX, optics: optics))
        return sample.contents(x: bounds.x, y: bounds.y, dose: dose)
    }

    /// Expected counts per pixel (noise-free) for one detector. At atomic resolution `columns`
    /// must come from ``columns(for:sample:dose:optics:)`` for the same scan.
    func expectedCounts(
        scan: ScanGeometry, sample: Sample, columns: [AtomColumn], dose: DoseMap, optics: ProbeOptics,
        detector: Detector
    ) -> Image {
        let frame = ScanFrame(scan)
        let scale = optics.electrons(dwell: scan.dwell) * detector.efficiency
        var image: Image
        if frame.pixelX > Self.surveyPixel {
            image = survey(frame, sample: sample, dose: dose, detector: detector)
        } else {
            image = atomic(frame, columns: columns, optics: optics, detector: detector)
        }
        for i in image.pixels.indices { image.pixels[i] = max(0, image.pixels[i]) * Float(scale) }
        return image
    }

    /// Scattered fraction per pixel at atomic resolution.
    private func atomic(_ frame: ScanFrame, columns: [AtomColumn], optics: ProbeOptics, detector: Detector) -> Image {
        let g = frame.geometry
        // Room for the probe's tails: atoms outside the frame still scatter into its border.
        let pad = Self.probePadding(pixel: frame.pixelX, optics: optics)
        let width = Self.fastSize(g.width + 2 * pad)
        let height = Self.fastSize(g.height + 2 * pad)
        var grid = [Float](repeating: 0, count: width * height)
        for column in columns {
            let p = frame.pixel(x: column.x, y: column.y)
            let cx = p.column + Double(pad)
            let cy = p.row + Double(pad)
            let x0 = Int(floor(cx))
            let y0 = Int(floor(cy))
            guard x0 >= 0, y0 >= 0, x0 + 1 < width, y0 + 1 < height else { continue }
            let fx = Float(cx - Double(x0))
            let fy = Float(cy - Double(y0))
            let weight = Float(detector.crossSection(column.z) * Double(column.count))
            grid[y0 * width + x0] += weight * (1 - fx) * (1 - fy)
            grid[y0 * width + x0 + 1] += weight * fx * (1 - fy)
            grid[(y0 + 1) * width + x0] += weight * (1 - fx) * fy
            grid[(y0 + 1) * width + x0 + 1] += weight * fx * fy
        }
        let (fft, transfer) = transferFunction(width: width, height: height, pixel: frame.pixelX, optics: optics)
        let blurred = fft.convolve(grid, transfer: transfer)
        // Probe intensity per pixel / pixel area = probe density per nm².
        let perArea = Float(1 / (frame.pixelX * frame.pixelY))
        var image = Image(width: g.width, height: g.height)
        for row in 0..<g.height {
            for column in 0..<g.width {
                image[column, row] = blurred[(row + pad) * width + column + pad] * perArea
            }
        }
        return image
    }

    /// Scattered fraction per pixel from the mean scattering density: interpolated inside uniform
    /// tiles, averaged over 2 x 2 samples per pixel where regions meet.
    private func survey(_ frame: ScanFrame, sample: Sample, dose: DoseMap, detector: Detector) -> Image {
        let g = frame.geometry
        func density(_ column: Double, _ row: Double) -> (label: UInt8, value: Float) {
            let p = frame.stage(column: column, row: row)
            let region = sample.layout.region(p.x, p.y)
            return (
                UInt8(region.kind.rawValue),
                Float(sample.scatteringDensity(region, p.x, p.y, dose: dose, sigma: detector.crossSection))
            )
        }
        let offsets = [(-0.25, -0.25), (0.25, -0.25), (-0.25, 0.25), (0.25, 0.25)]
        let pixels = BlockRaster.field(
            width: g.width, height: g.height, block: 8,
            corner: { density(Double($0), Double($1)) },
            exact: { column, row in
                offsets.reduce(0) { $0 + density(Double(column) + $1.0, Double(row) + $1.1).value } / 4
            })
        return Image(width: g.width, height: g.height, pixels: pixels)
    }

    private func transferFunction(
        width: Int, height: Int, pixel: Double, optics: ProbeOptics
    ) -> (
        FourierTransform2D, [Float]
    ) {
        let key = TransferKey(width: width, height: height, pixel: pixel, optics: optics)
        if let cached = transfers[key] { return cached }
        if transfers.count > 8 { transfers.removeAll() }
        // Estimated plans, not measured ones: FFTW_MEASURE picks its algorithm by timing, so the
        // rounding (and through the Poisson draws, the frame) would change from run to run.
        let fft = FourierTransform2D(width: width, height: height, measure: false)
        let entry = (fft, optics.transfer(using: fft, pixel: pixel))
        transfers[key] = entry
        return entry
    }
}

/// Sizes of the convolution grid.
public enum ImageFormationSizes {
    /// The smallest even size at least `n` whose only prime factors are 2, 3, 5 and 7: FFTW is
    /// several times slower on sizes with a large prime factor (592 = 16 x 37, say).
    public static func fastSize(_ n: Int) -> Int {
        var size = n + n % 2
        while true {
            var m = size
            for p in [2, 3, 5, 7] { while m % p == 0 { m /= p } }
            if m == 1 { return size }
            size += 2
        }
    }
}
