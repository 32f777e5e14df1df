import Foundation
import ImageIO
import Simulator
import WireProtocol

/// Files each simulated frame's ground truth as `DIR/SESSION/SEQ.json` (defects and atom columns
/// in pixel coordinates) and `DIR/SESSION/SEQ-regions.png` (region labels as gray levels 0...5).
struct GroundTruthWriter: Sendable {
    let directory: URL

    struct Record: Encodable {
        struct Point: Encodable {
            let x: Double
            let y: Double
            let type: String
        }

        let seq: UInt64
        let session: String
        let pixelSizeAngstrom: Double
        let scan: ScanGeometry
        let defects: [Point]
        let columns: [Point]

        enum CodingKeys: String, CodingKey {
            case seq, session, pixelSizeAngstrom = "pixel_size_angstrom", scan, defects, columns
        }
    }

    init(directory: URL) {
        self.directory = directory
    }

    func write(_ truth: GroundTruth, seq: UInt64, session: String, scan: ScanGeometry) {
        let folder = directory.appendingPathComponent(session, isDirectory: true)
        let record = Record(
            seq: seq, session: session, pixelSizeAngstrom: truth.pixelSize, scan: scan,
            defects: truth.defects.map { .init(x: $0.x, y: $0.y, type: $0.kind.rawValue) },
            columns: truth.columns.map { .init(x: $0.x, y: $0.y, type: $0.kind.rawValue) })
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try JSONEncoder().encode(record).write(to: folder.appendingPathComponent("\(seq).json"))
            try PNGFile.write(
                width: truth.width, height: truth.height, channels: 1, pixels: truth.regions,
                to: folder.appendingPathComponent("\(seq)-regions.png"))
        } catch {
            FileHandle.standardError.write(Data("ground truth for frame \(seq) not written: \(error)\n".utf8))
        }
    }
}
