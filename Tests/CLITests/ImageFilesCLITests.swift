import Foundation
import ScopePilotTestSupport
import Testing

/// `detect` and `segment` on files other tools wrote: their own calibration, series, and the
/// probability maps and overlays a scientist takes away.
@Suite("Image files at the command line", .serialized)
struct ImageFilesCLITests {
    static let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
        "scopepilot-files-\(UUID().uuidString)")
    /// An abTEM frame at 0.2 Å/px with Se1 vacancies (the project's independent test set).
    static let frame = TestPython.repository.appendingPathComponent(
        "Tests/Fixtures/abtem/detection/d0-in-focus-1e4-HAADF.npy")

    /// Writes into `folder`, with tifffile: a 2-page ImageJ series calibrated at 0.02 nm, and one page of it.
    static func writeTIFFs(in folder: URL = folder) async throws -> (series: URL, single: URL) {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let series = folder.appendingPathComponent("series.tif")
        let single = folder.appendingPathComponent("single.tif")
        _ = try await TestPython.run(
            """
            import numpy as np, tifffile
            a = np.load('\(frame.path)').astype('float32')
            meta = dict(resolution=(50.0, 50.0), metadata={'unit': 'nm', 'axes': 'ZYX'})
            tifffile.imwrite('\(series.path)', np.stack([a, a[::-1].copy()]), imagej=True, **meta)
            tifffile.imwrite('\(single.path)', a, imagej=True, resolution=(50.0, 50.0), metadata={'unit': 'nm'})
            """)
        return (series, single)
    }

    @Test("detect takes a file's own pixel size, reads each page of a series, and checks --pixel-size against the file")
    func calibrationAndSeries() async throws {
        let (series, _) = try await Self.writeTIFFs()
        let result = try await CLI.run(["detect", series.path])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        for (index, line) in lines.enumerated() {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["frame"] as? Int == index + 1)
            #expect(object["pixel_size_angstrom"] as? Double == 0.2)
            #expect(object["pixel_size_source"] as? String == "the file's ImageJ metadata")
            #expect(((object["defects"] as? [Any])?.count ?? 0) > 5)
        }
        let close = try await CLI.run(["detect", series.path, "--pixel-size", "0.201"])
        #expect(close.status == 0, "within 2 % of the file's: \(close.stderr)")
        let conflict = try await CLI.run(["detect", series.path, "--pixel-size", "0.3"])
        #expect(conflict.status == 1)
        #expect(conflict.stdout.isEmpty)
        #expect(
            conflict.stderr.contains("ImageJ metadata gives 0.2 Å/px but --pixel-size is 0.3 Å"), "\(conflict.stderr)")
        let uncalibrated = try await CLI.run(["detect", Self.frame.path])
        #expect(uncalibrated.status == 1)
        #expect(
            uncalibrated.stderr.contains("the file states no pixel size: give --pixel-size"), "\(uncalibrated.stderr)")
    }

    @Test("a file whose calibration its lattice contradicts is refused, pointing to auto")
    func wrongCalibration() async throws {
        try FileManager.default.createDirectory(at: Self.folder, withIntermediateDirectories: true)
        let wrong = Self.folder.appendingPathComponent("wrong.tif")
        _ = try await TestPython.run(
            """
            import numpy as np, tifffile
            a = np.load('\(Self.frame.path)').astype('float32')
            tifffile.imwrite('\(wrong.path)', a, imagej=True, resolution=(10.0, 10.0), metadata={'unit': 'nm'})
            """)
        let result = try await CLI.run(["detect", wrong.path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("gives 1 Å/px, which its lattice contradicts"), "\(result.stderr)")
        #expect(result.stderr.contains("means 0.20"), "\(result.stderr)")
        let auto = try await CLI.run(["detect", wrong.path, "--pixel-size", "auto"])
        #expect(auto.status == 0, "\(auto.stderr)")
    }

    @Test(
        "detect --probabilities and --overlay without --out write maps and a picture with legend and scale bar beside the input"
    )
    func probabilitiesAndOverlay() async throws {
        let (_, single) = try await Self.writeTIFFs()
        let result = try await CLI.run(["detect", single.path, "--overlay", "--probabilities"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let defects = try #require(object["defects"] as? [[String: Any]])
        let first = try #require(defects.first)
        let x = try #require(first["x"] as? Double)
        let y = try #require(first["y"] as? Double)
        let background = Self.folder.appendingPathComponent("single-probability-background.npy")
        let se1 = Self.folder.appendingPathComponent("single-probability-Se1.npy")
        let overlay = Self.folder.appendingPathComponent("single-overlay.png")
        // The maps are in the input's pixels, sum to one, and are high where a defect was reported.
        let maps = try await TestPython.run(
            """
            import numpy as np
            b = np.load('\(background.path)'); s = np.load('\(se1.path)')
            print(s.shape, s.dtype, float(abs(b + s - 1).max()) < 1e-5, float(s[int(round(\(y))), int(round(\(x)))]) > 0.5, float(np.median(s)) < 0.05)
            """)
        #expect(maps == "(340, 340) float32 True True True", "\(maps)")
        // The overlay: the Se1 swatch in the legend's box (top left), a white scale bar (bottom left).
        let picture = try await TestPython.run(
            """
            import zlib, struct, numpy as np
            data = open('\(overlay.path)', 'rb').read()
            pos, idat, size = 8, b'', None
            while pos < len(data):
                n, kind = struct.unpack('>I4s', data[pos:pos + 8]); body = data[pos + 8:pos + 8 + n]
                if kind == b'IHDR': size = struct.unpack('>II', body[:8])
                if kind == b'IDAT': idat += body
                pos += 12 + n
            w, h = size
            raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 3 * w + 1)[:, 1:].reshape(h, w, 3)
            legend = raw[:24, :24].reshape(-1, 3).tolist()
            bar = raw[h - 24:, :120]
            white_rows = [int((r == 255).all(axis=1).sum()) for r in bar]
            print(w, h, [255, 220, 0] in legend, max(white_rows) >= 40)
            """)
        #expect(picture == "340 340 True True", "\(picture)")
    }

    @Test("segment reads a series as frames of one session at the file's pixel size")
    func segmentSeries() async throws {
        let (series, _) = try await Self.writeTIFFs()
        let out = Self.folder.appendingPathComponent("segments")
        let result = try await CLI.run(["segment", series.path, "--model", "none", "--out", out.path])
        #expect(result.status == 0, "\(result.stderr)")
        for k in 1...2 {
            let json = out.appendingPathComponent("series-frame\(k).json")
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any], "\(json.path)")
            #expect(object["image"] as? String == "\(series.path)[\(k)]")
            #expect(object["pixel_size_angstrom"] as? Double == 0.2)
        }
    }
}
