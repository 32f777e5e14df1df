import Foundation
import WireProtocol

/// How one recorded frame answers a requested scan when the driver serves by region: the
/// rectangle of its pixels that covers the request, summed over `bin` x `bin` blocks when the
/// request's pixels are a whole number of times larger.
struct RegionMatch: Sendable {
    /// The frame's index in the recording.
    let frame: Int
    let left: Int
    let top: Int
    let columns: Int
    let rows: Int
    let bin: Int
    /// The scan the served pixels really are (centre of the cropped rectangle, its field, the
    /// recorded dwell times the pixels binned, the recorded rotation).
    let scan: ScanGeometry

    /// Pixel sizes agree, or are a whole number of times each other, within this fraction.
    static let scaleTolerance = 0.02
    /// Scan rotations agree within this many degrees (the driver does not resample).
    static let rotationTolerance = 0.5

    /// The best recorded frame for `request` (the finest scale, then the one whose pixels lie
    /// furthest inside it, then the earliest), or why none will do, in words naming the nearest.
    static func find(
        _ request: ScanGeometry, channels: [String]?, in frames: [RecordedFrame]
    ) -> Result<RegionMatch, InstrumentErrorReason> {
        var best: (match: RegionMatch, margin: Int)?
        var nearest: (distance: Double, index: Int, why: String)?
        for (index, frame) in frames.enumerated() {
            switch match(request, channels: channels, frame: frame, index: index) {
            case .success(let (match, margin)):
                if let current = best {
                    if (match.bin, -margin) < (current.match.bin, -current.margin) { best = (match, margin) }
                } else {
                    best = (match, margin)
                }
            case .failure(let why):
                let distance = hypot(frame.scan.centerX - request.centerX, frame.scan.centerY - request.centerY)
                if nearest.map({ distance < $0.distance }) ?? true { nearest = (distance, index, why.reason) }
            }
        }
        if let best { return .success(best.match) }
        var words =
            "no recorded frame covers the asked region (centre \(nm(request.centerX)), \(nm(request.centerY)) nm, "
            + "\(nm(request.fovX)) nm field at \(angstrom(request.pixelSizeX)) Å/px)"
        if let nearest {
            let frame = frames[nearest.index]
            words +=
                "; the nearest recorded, \(frame.source) (centre \(nm(frame.scan.centerX)), \(nm(frame.scan.centerY)) nm, "
                + "\(nm(frame.scan.fovX)) nm at \(angstrom(frame.scan.pixelSizeX)) Å/px): \(nearest.why)"
        }
        return .failure(InstrumentErrorReason(reason: words))
    }

    /// Whether `frame` covers `request`, and how far inside it the request lies (pixels).
    private static func match(
        _ request: ScanGeometry, channels: [String]?, frame: RecordedFrame, index: Int
    ) -> Result<(RegionMatch, Int), InstrumentErrorReason> {
        let recorded = frame.scan
        if let channels, let missing = channels.first(where: { !frame.channels.contains($0) }) {
            return .failure(
                .init(reason: "it has no channel \(missing) (it has \(frame.channels.joined(separator: ", ")))"))
        }
        var turn = (request.rotation - recorded.rotation).truncatingRemainder(dividingBy: 360)
        if turn > 180 { turn -= 360 }
        if turn < -180 { turn += 360 }
        guard abs(turn) <= rotationTolerance else {
            return .failure(.init(reason: "it was scanned at \(recorded.rotation)° rotation, not \(request.rotation)°"))
        }
        let ratioX = request.pixelSizeX / recorded.pixelSizeX
        let ratioY = request.pixelSizeY / recorded.pixelSizeY
        let bin = Int(ratioX.rounded())
        guard bin >= 1, abs(ratioX - Double(bin)) <= scaleTolerance * ratioX,
            abs(ratioY - Double(bin)) <= scaleTolerance * ratioY
        else {
            return .failure(
                .init(
                    reason: "its pixels are \(angstrom(recorded.pixelSizeX)) Å: the asked "
                        + "\(angstrom(request.pixelSizeX)) Å is not the same or a whole multiple (cropping and "
                        + "binning do not resample)"))
        }
        let columns = request.width * bin
        let rows = request.height * bin
        let theta = recorded.rotation * .pi / 180
        let dx = request.centerX - recorded.centerX
        let dy = request.centerY - recorded.centerY
        let u = cos(theta) * dx + sin(theta) * dy
        let v = -sin(theta) * dx + cos(theta) * dy
        let centreColumn = u / recorded.pixelSizeX + Double(recorded.width - 1) / 2
        let centreRow = v / recorded.pixelSizeY + Double(recorded.height - 1) / 2
        let left = Int((centreColumn - Double(columns - 1) / 2).rounded())
        let top = Int((centreRow - Double(rows - 1) / 2).rounded())
        let margin = min(left, top, recorded.width - left - columns, recorded.height - top - rows)
        guard margin >= 0 else {
            let outside = Double(-margin) * recorded.pixelSizeX
            return .failure(.init(reason: "the asked region reaches \(nm(outside)) nm beyond its edge"))
        }
        // The centre of what is served, in stage coordinates.
        let servedU = (Double(left) + Double(columns - 1) / 2 - Double(recorded.width - 1) / 2) * recorded.pixelSizeX
        let servedV = (Double(top) + Double(rows - 1) / 2 - Double(recorded.height - 1) / 2) * recorded.pixelSizeY
        let scan = ScanGeometry(
            centerX: recorded.centerX + cos(theta) * servedU - sin(theta) * servedV,
            centerY: recorded.centerY + sin(theta) * servedU + cos(theta) * servedV,
            fovX: Double(columns) * recorded.pixelSizeX, fovY: Double(rows) * recorded.pixelSizeY,
            width: request.width, height: request.height, dwell: recorded.dwell * Double(bin * bin),
            rotation: recorded.rotation)
        return .success(
            (
                RegionMatch(frame: index, left: left, top: top, columns: columns, rows: rows, bin: bin, scan: scan),
                margin
            ))
    }
}

/// A refusal's words, as a failure value.
struct InstrumentErrorReason: Error, Sendable {
    let reason: String
}

/// `value` nm with one decimal.
func nm(_ value: Double) -> String { String(format: "%.1f", value) }
/// `value` nm as Å with three decimals.
func angstrom(_ nanometres: Double) -> String { String(format: "%.3f", nanometres * 10) }
