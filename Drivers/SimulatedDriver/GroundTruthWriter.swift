import Foundation
import ImageIO
import Simulator
import WireProtocol

/// Files each simulated frame's ground truth as `DIR/SESSION/SEQ.json` (defects and atom columns
/// in pixel coordinates) and `DIR/SESSION/SEQ-regions.png` (region labels as gray levels 0...5).
struct GroundTruthWriter: Sendable {
    let directory: URL

    init(directory: URL) {
        self.directory = directory
    }

    func write(_ truth: GroundTruth, seq: UInt64, session: String, scan: ScanGeometry, conditions: String?) {
        let folder = directory.appendingPathComponent(session, isDirectory: true)
        let record = GroundTruthRecord(truth, scan: scan, conditions: conditions, seq: seq, session: session)
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try record.json().write(to: folder.appendingPathComponent("\(seq).json"))
            try PNGFile.write(
                width: truth.width, height: truth.height, channels: 1, pixels: truth.regions,
                to: folder.appendingPathComponent("\(seq)-regions.png"))
        } catch {
            FileHandle.standardError.write(Data("ground truth for frame \(seq) not written: \(error)\n".utf8))
        }
    }
}
