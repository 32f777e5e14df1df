import Foundation
import ImageIO
import ImageNumerics
import Testing

/// Files written by the tools users have (tifffile, Pillow; Gatan and Velox files from
/// RosettaSciIO's public test data), read against what those tools themselves hold in them.
/// `Tests/Fixtures/formats/make_formats.py` writes them and says how.
@Suite("Image files from other tools")
struct FormatFixtureTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/formats")

    struct Entry: Decodable, Sendable, CustomTestStringConvertible {
        let file: String
        let tool: String
        let frames: Int
        let pixelSizeAngstrom: Double?
        let modulo: Int?
        let scale: Double
        var testDescription: String { "\(file) (\(tool))" }
        enum CodingKeys: String, CodingKey {
            case file, tool, frames, modulo, scale
            case pixelSizeAngstrom = "pixel_size_angstrom"
        }
    }

    static let entries: [Entry] = {
        struct Manifest: Decodable { let files: [Entry] }
        let data = (try? Data(contentsOf: folder.appendingPathComponent("manifest.json"))) ?? Data()
        return (try? JSONDecoder().decode(Manifest.self, from: data).files) ?? []
    }()

    @Test("the manifest lists the files make_formats.py writes")
    func manifest() {
        #expect(Self.entries.count >= 25)
        for entry in Self.entries {
            #expect(
                FileManager.default.fileExists(atPath: Self.folder.appendingPathComponent(entry.file).path),
                "\(entry.file)")
        }
    }

    @Test(
        "every file gives the reference image exactly, each page offset by its index, with its calibration",
        arguments: entries)
    func readsFile(entry: Entry) throws {
        let reference = try NumpyFile.read(Self.folder.appendingPathComponent("reference.npy"))
        let contents = try ImageFile.contents(of: Self.folder.appendingPathComponent(entry.file))
        #expect(contents.frames.count == entry.frames)
        for (page, frame) in contents.frames.enumerated() {
            #expect(frame.width == reference.width && frame.height == reference.height)
            let expected = reference.pixels.map { value -> Float in
                var v = Double(value)
                if let modulo = entry.modulo { v = v.truncatingRemainder(dividingBy: Double(modulo)) }
                if entry.file.contains("i16-bigendian") { v -= 2048 }
                if entry.file.contains("fppredictor") { v -= 1000.5 }
                return Float(v * entry.scale + Double(page))
            }
            let worst = zip(frame.pixels, expected).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .infinity
            // float16 keeps 11 bits of mantissa; every other type is exact.
            #expect(worst <= (entry.file.contains("f16") ? 1e-3 : 0), "page \(page + 1): worst relative error \(worst)")
        }
        if let size = entry.pixelSizeAngstrom {
            let found = try #require(contents.calibration, "the file's calibration was not found")
            #expect(abs(found.angstrom - size) < 1e-6 * size, "\(found)")
        } else {
            #expect(contents.calibration == nil)
        }
    }

    @Test("a series is refused where one image is wanted, with the number of frames")
    func seriesRefusedAsOneImage() {
        #expect {
            try ImageFile.read(Self.folder.appendingPathComponent("tifffile-imagej-series.tif"))
        } throws: { error in
            (error as? ImageFileError)?.problem.contains("series of 5 frames") == true
        }
    }

    @Test("a colour PNG is refused, saying where red, green and blue differ")
    func colourRefused() {
        #expect {
            try ImageFile.read(Self.folder.appendingPathComponent("pillow-colour.png"))
        } throws: { error in
            (error as? ImageFileError)?.problem.contains("colour image") == true
        }
    }

    struct GatanExpectation: Decodable, Sendable {
        let shape: [Int]
        let dtype: String
        let pixels: [Double]
        let pixelSizeAngstrom: Double?
        enum CodingKeys: String, CodingKey {
            case shape, dtype, pixels
            case pixelSizeAngstrom = "pixel_size_angstrom"
        }
    }

    static let gatan: [String: GatanExpectation] = {
        let data =
            (try? Data(contentsOf: folder.appendingPathComponent("rosettasciio/expected.json"))) ?? Data()
        return (try? JSONDecoder().decode([String: GatanExpectation].self, from: data)) ?? [:]
    }()

    @Test(
        "Gatan .dm3 and .dm4 files read natively give what RosettaSciIO reads: pixels, stacks, calibration",
        arguments: gatan.keys.sorted())
    func readsGatan(file: String) throws {
        let expected = try #require(Self.gatan[file])
        let contents = try ImageFile.contents(of: Self.folder.appendingPathComponent("rosettasciio/\(file)"))
        // RosettaSciIO's shape is (planes, rows, columns) or (rows, columns).
        let planes = expected.shape.count == 3 ? expected.shape[0] : 1
        #expect(contents.frames.count == planes)
        #expect(
            contents.frames[0].width == expected.shape.last
                && contents.frames[0].height == expected.shape.dropLast().last)
        let pixels = contents.frames.flatMap(\.pixels).map(Double.init)
        #expect(pixels == expected.pixels.map { Double(Float($0)) }, "\(expected.dtype)")
        if let size = expected.pixelSizeAngstrom {
            let found = try #require(contents.calibration)
            #expect(abs(found.angstrom - size) < 1e-5 * size, "\(found)")
        } else {
            #expect(contents.calibration == nil)
        }
    }

    @Test("the Gatan set covers DM3 and DM4, a stack, every integer width and the calibrated STEM image")
    func gatanCoverage() {
        let files = Self.gatan.keys
        #expect(files.contains { $0.hasSuffix(".dm3") } && files.contains { $0.hasSuffix(".dm4") })
        #expect(Self.gatan["test_STEM_image.dm3"]?.pixelSizeAngstrom != nil)
        #expect(Self.gatan.values.contains { $0.shape.count == 3 })
    }

    @Test("a Velox .emd is pointed to the Python package's converter")
    func emdRoute() {
        #expect {
            try ImageFile.contents(of: Self.folder.appendingPathComponent("rosettasciio/fei_example_tem_stack.emd"))
        } throws: { error in
            (error as? ImageFileError)?.problem.contains("python -m scopepilot convert") == true
        }
    }

    @Test("corrupt compressed data and truncated files are refused with a reason, never a crash")
    func corrupt() throws {
        for name in [
            "tifffile-u16-deflate.tif", "tifffile-u16-lzw.tif", "tifffile-u8-packbits.tif", "pillow-gray16.png",
            "tifffile-f32-bigtiff.tif",
        ] {
            let bytes = [UInt8](try Data(contentsOf: Self.folder.appendingPathComponent(name)))
            for cut in [bytes.count / 2, bytes.count - 20, 12] {
                #expect(throws: ImageFileError.self, "\(name) cut at \(cut)") {
                    if name.hasSuffix(".png") {
                        _ = try PNGFile.decode(Array(bytes.prefix(cut)))
                    } else {
                        _ = try TIFFFile.decodeContents(Array(bytes.prefix(cut)))
                    }
                }
            }
            // Scrambled pixel data: an error or an image, never a crash.
            var scrambled = bytes
            for i in stride(from: bytes.count / 3, to: bytes.count - 8, by: 7) { scrambled[i] ^= 0x5A }
            _ = try? TIFFFile.decodeContents(scrambled)
            _ = try? PNGFile.decode(scrambled)
        }
        let dm = [UInt8](try Data(contentsOf: Self.folder.appendingPathComponent("rosettasciio/test_STEM_image.dm3")))
        #expect(throws: ImageFileError.self) { try DigitalMicrographFile.decode(Array(dm.prefix(dm.count / 2))) }
    }

    @Test("a Gatan file's stage position is read, in nm (RosettaSciIO's original metadata holds -461.276, 52.0039 µm)")
    func gatanStagePosition() throws {
        let contents = try ImageFile.contents(
            of: Self.folder.appendingPathComponent("rosettasciio/test_STEM_image.dm3"))
        let stage = try #require(contents.stage)
        #expect(abs(stage.x - -461_276) < 0.01 && abs(stage.y - 52_003.9) < 0.01, "\(stage)")
        let plain = try ImageFile.contents(of: Self.folder.appendingPathComponent("rosettasciio/test-2-float32.dm4"))
        #expect(plain.stage == nil, "a file without Microscope Info states no position")
    }
}
