import Foundation
import Numerics
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

    /// Expected counts per pixel (noise-free) for one detector.
    func expectedCounts(
        scan: ScanGeometry, sample: Sample, dose: DoseMap, optics: ProbeOptics, detector: Detector
    ) -> Image {
        let frame = ScanFrame(scan)
        let scale = optics.electrons(dwell: scan.dwell) * detector.efficiency
        var image: Image
        if frame.pixelX > Self.surveyPixel {
            image = survey(frame, sample: sample, dose: dose, detector: detector)
        } else {
            image = atomic(frame, sample: sample, dose: dose, optics: optics, detector: detector)
        }
        for i in image.pixels.indices { image.pixels[i] = max(0, image.pixels[i]) * Float(scale) }
        return image
    }

    /// Scattered fraction per pixel at atomic resolution.
    private func atomic(
        _ frame: ScanFrame, sample: Sample, dose: DoseMap, optics: ProbeOptics, detector: Detector
    )
        -> Image
    {
        let g = frame.geometry
        // Room for the probe's tails: atoms outside the frame still scatter into its border.
        let pad = max(16, Int((1.2 / frame.pixelX).rounded(.up)))
        let width = (g.width + 2 * pad + 15) / 16 * 16
        let height = (g.height + 2 * pad + 15) / 16 * 16
        let bounds = frame.bounds(margin: pad)
        let columns = sample.contents(x: bounds.x, y: bounds.y, dose: dose).columns
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

    /// Scattered fraction per pixel from the mean scattering density (2 x 2 samples per pixel).
    private func survey(_ frame: ScanFrame, sample: Sample, dose: DoseMap, detector: Detector) -> Image {
        let g = frame.geometry
        var image = Image(width: g.width, height: g.height)
        let offsets = [(-0.25, -0.25), (0.25, -0.25), (-0.25, 0.25), (0.25, 0.25)]
        for row in 0..<g.height {
            for column in 0..<g.width {
                var total = 0.0
                for (dx, dy) in offsets {
                    let p = frame.stage(column: Double(column) + dx, row: Double(row) + dy)
                    total += sample.scatteringDensity(p.x, p.y, dose: dose, sigma: detector.crossSection)
                }
                image[column, row] = Float(total / 4)
            }
        }
        return image
    }

    private func transferFunction(
        width: Int, height: Int, pixel: Double, optics: ProbeOptics
    ) -> (
        FourierTransform2D, [Float]
    ) {
        let key = TransferKey(width: width, height: height, pixel: pixel, optics: optics)
        if let cached = transfers[key] { return cached }
        if transfers.count > 8 { transfers.removeAll() }
        let fft = FourierTransform2D(width: width, height: height)
        let entry = (fft, optics.transfer(using: fft, pixel: pixel))
        transfers[key] = entry
        return entry
    }
}
