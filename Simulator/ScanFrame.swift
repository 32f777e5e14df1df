import Foundation
import WireProtocol

/// Maps between a scan's pixels and stage coordinates.
///
/// Pixel (column, row) has its centre at the scan centre plus the rotated offset
/// ((column − (width−1)/2)·pixelX, (row − (height−1)/2)·pixelY): image x runs along stage +x and
/// image rows along stage +y when the rotation is zero; the rotation turns the scan
/// counter-clockwise.
struct ScanFrame {
    let geometry: ScanGeometry
    let pixelX: Double
    let pixelY: Double
    private let cosR: Double
    private let sinR: Double

    init(_ geometry: ScanGeometry) {
        self.geometry = geometry
        pixelX = geometry.fovX / Double(geometry.width)
        pixelY = geometry.fovY / Double(geometry.height)
        cosR = cos(geometry.rotation * .pi / 180)
        sinR = sin(geometry.rotation * .pi / 180)
    }

    /// Stage position of a (fractional) pixel position.
    func stage(column: Double, row: Double) -> (x: Double, y: Double) {
        let u = (column - Double(geometry.width - 1) / 2) * pixelX
        let v = (row - Double(geometry.height - 1) / 2) * pixelY
        return (geometry.centerX + cosR * u - sinR * v, geometry.centerY + sinR * u + cosR * v)
    }

    /// Fractional pixel position of a stage position.
    func pixel(x: Double, y: Double) -> (column: Double, row: Double) {
        let dx = x - geometry.centerX
        let dy = y - geometry.centerY
        let u = cosR * dx + sinR * dy
        let v = -sinR * dx + cosR * dy
        return (u / pixelX + Double(geometry.width - 1) / 2, v / pixelY + Double(geometry.height - 1) / 2)
    }

    /// The axis-aligned stage rectangle covering the scan plus `margin` pixels on every side.
    func bounds(margin: Int) -> (x: ClosedRange<Double>, y: ClosedRange<Double>) {
        let m = Double(margin)
        let corners = [
            stage(column: -m - 0.5, row: -m - 0.5), stage(column: Double(geometry.width) + m - 0.5, row: -m - 0.5),
            stage(column: -m - 0.5, row: Double(geometry.height) + m - 0.5),
            stage(column: Double(geometry.width) + m - 0.5, row: Double(geometry.height) + m - 0.5),
        ]
        let xs = corners.map(\.x)
        let ys = corners.map(\.y)
        return ((xs.min() ?? 0)...(xs.max() ?? 0), (ys.min() ?? 0)...(ys.max() ?? 0))
    }

    /// Whether a stage position lies inside the scanned area.
    func contains(x: Double, y: Double) -> Bool {
        let p = pixel(x: x, y: y)
        return p.column >= -0.5 && p.column <= Double(geometry.width) - 0.5 && p.row >= -0.5
            && p.row <= Double(geometry.height) - 0.5
    }
}
