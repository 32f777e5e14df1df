import DecisionLog
import Foundation
import ImageIO
import ImageNumerics
import Testing

@testable import Daemon

@Suite("Frames of record kept beside the log")
struct FramesOfRecordTests {
    @Test("with store-pixels every frame's channels are TIFFs beside the log, pixel for pixel as sent")
    func keepsEveryFrame() async throws {
        var harness = try await DaemonHarness(policy: raster(columns: 2, rows: 2, pixels: 128))
        harness.configuration.storePixels = true
        defer { harness.finish() }
        let daemon = try await harness.run()
        let session = try #require(daemon.status.session)
        let rows = try harness.log().query(
            "SELECT seq, pixel_size_angstrom, pixels_files, pixels FROM frames WHERE session_id = ? ORDER BY seq",
            arguments: [session])
        let sent = await harness.recorder.sent
        #expect(rows.rows.count == sent.count && sent.count >= 4, "\(rows.rows.count) rows, \(sent.count) sent")
        let base = URL(fileURLWithPath: harness.configuration.database).deletingLastPathComponent()
        for (row, frame) in zip(rows.rows, sent) {
            #expect(row[0] == String(frame.seq))
            #expect(row[3] == nil, "no blob in the log itself")
            let text = try #require(row[2])
            let files = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String])
            #expect(Set(files.keys) == Set(frame.channels))
            for (channel, bytes) in zip(frame.channels, frame.bytes) {
                let path = try #require(files[channel])
                #expect(path.hasPrefix("log.sqlite.frames/\(session)/d0/000000/"), "\(path)")
                let contents = try TIFFFile.contents(of: base.appendingPathComponent(path))
                let image = try #require(contents.frames.first)
                let values = stride(from: 0, to: bytes.count, by: 2).map {
                    Float(UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8)
                }
                #expect(image.pixels == values, "\(path)")
                let stated = try #require(row[1])
                let pixelSize = try #require(Double(stated))
                #expect(abs((contents.calibration?.angstrom ?? 0) / pixelSize - 1) < 1e-5)
            }
        }
    }

    @Test("channel names from the driver never make paths")
    func safeNames() {
        #expect(FrameStore.safe("HAADF") == "HAADF")
        #expect(FrameStore.safe("../../etc/passwd") == "______etc_passwd")
        #expect(FrameStore.safe("") == "_")
        #expect(FrameStore.safe(String(repeating: "a", count: 500)).count == 64)
    }
}
