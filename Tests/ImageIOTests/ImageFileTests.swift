import Foundation
import ImageIO
import ImageNumerics
import ScopePilotTestSupport
import Testing

/// Runs a short Python program with numpy and returns what it printed.
func python(_ program: String) async throws -> String { try await TestPython.run(program) }

func temporary(_ name: String) -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-\(UUID().uuidString)-\(name)")
}

@Suite("Image files")
struct ImageFileTests {
    @Test(
        "NumPy files written by numpy are read exactly, every real dtype in both byte orders",
        arguments: [
            "float32", "float64", "uint16", "<f2", ">f2", ">f4", ">f8", "bool", "int8", "uint8", "<i2", ">i2", "<i4",
            ">i4", "<u4", ">u4", "<i8", ">i8", "<u8", ">u8",
        ])
    func readsNumpy(dtype: String) async throws {
        let url = temporary("a.npy")
        defer { try? FileManager.default.removeItem(at: url) }
        let values = dtype == "bool" ? "np.arange(12).reshape(3, 4) % 2" : "np.arange(12).reshape(3, 4) * 3 + 1"
        _ = try await python("import numpy as np; np.save('\(url.path)', (\(values)).astype('\(dtype)'))")
        let image = try NumpyFile.read(url)
        #expect(image.width == 4 && image.height == 3)
        let expected: [Float] = (0..<12).map { Float(dtype == "bool" ? $0 % 2 : $0 * 3 + 1) }
        #expect(image.pixels == expected)
    }

    @Test("NumPy arrays in Fortran order, negative and fractional values, one plane of 3-D")
    func readsNumpyLayouts() async throws {
        for (array, expected) in [
            ("np.asfortranarray(np.arange(6).reshape(2, 3) - 2.5)", [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5]),
            ("np.asfortranarray(np.arange(6, dtype='>i2').reshape(2, 3) - 3)", [-3, -2, -1, 0, 1, 2]),
            ("np.arange(6, dtype='float32').reshape(1, 2, 3)", [0, 1, 2, 3, 4, 5]),
            ("np.arange(6, dtype='uint8').reshape(2, 3, 1)", [0, 1, 2, 3, 4, 5]),
            ("np.array([[65504, -0.25, 1e-7]], dtype='float16')", [65504, -0.25, 1.1920929e-07]),
        ] as [(String, [Float])] {
            let url = temporary("l.npy")
            defer { try? FileManager.default.removeItem(at: url) }
            _ = try await python("import numpy as np; np.save('\(url.path)', \(array))")
            let image = try NumpyFile.read(url)
            #expect(image.pixels == expected, "\(array)")
            #expect(image.width == 3, "\(array)")
        }
    }

    @Test("NumPy files written here load in numpy with the right dtype, shape and values")
    func writesNumpy() async throws {
        let image = Image(width: 5, height: 2, pixels: (0..<10).map { Float($0) * 1.5 })
        for (type, expected) in [(NumpyFile.StoredType.float32, "float32 (2, 5) 67.5"), (.uint16, "uint16 (2, 5) 70")] {
            let url = temporary("b.npy")
            defer { try? FileManager.default.removeItem(at: url) }
            try NumpyFile.write(image, as: type, to: url)
            let report = try await python(
                "import numpy as np; a = np.load('\(url.path)'); print(a.dtype, a.shape, a.sum())")
            #expect(report == expected)
            #expect(try NumpyFile.read(url).width == 5)
        }
    }

    @Test(
        "unusable NumPy files are refused with the reason",
        arguments: [
            ("np.zeros((2, 3, 4), 'float32')", "must be 2-D"),
            ("np.zeros((2, 3), 'complex64')", "complex"),
            ("np.zeros((2, 3), 'U3')", "unsupported dtype"),
            ("np.zeros((2, 3), 'datetime64[s]')", "unsupported dtype"),
            ("np.zeros((2, 3, 3), 'uint8')", "save one plane"),
        ])
    func refusesNumpy(array: String, reason: String) async throws {
        let url = temporary("c.npy")
        defer { try? FileManager.default.removeItem(at: url) }
        _ = try await python("import numpy as np; np.save('\(url.path)', \(array))")
        #expect {
            try NumpyFile.read(url)
        } throws: { error in
            (error as? ImageFileError)?.problem.contains(reason) == true
        }
    }

    @Test("truncated and foreign files are refused")
    func refusesGarbage() throws {
        #expect(throws: ImageFileError.self) { try NumpyFile.decode(Data("hello".utf8)) }
        #expect(throws: ImageFileError.self) { try TIFFFile.decode(Array("hello world".utf8)) }
        #expect(throws: ImageFileError.self) { try NumpyFile.read(URL(fileURLWithPath: "/nonexistent/x.npy")) }
        let url = temporary("d.npy")
        defer { try? FileManager.default.removeItem(at: url) }
        try NumpyFile.write(Image(width: 4, height: 4), as: .float32, to: url)
        let data = try Data(contentsOf: url)
        #expect(throws: ImageFileError.self) { try NumpyFile.decode(data.dropLast(5)) }
    }

    @Test("TIFF round trips in 16-bit and float32")
    func tiffRoundTrip() throws {
        let image = Image(width: 7, height: 3, pixels: (0..<21).map { Float($0 * 1000) })
        for type in [TIFFFile.StoredType.uint16, .float32] {
            let url = temporary("e.tif")
            defer { try? FileManager.default.removeItem(at: url) }
            try TIFFFile.write(image, as: type, to: url)
            #expect(try TIFFFile.read(url) == image)
        }
    }

    @Test("deflated TIFFs with predictors and a pixel size round trip, and tifffile reads them alike")
    func tiffDeflateRoundTrip() async throws {
        var random = SplitMix64(seed: 9)
        // Noisy values, negative and fractional for float32, the full range for uint16.
        let float = Image(
            width: 61, height: 17,
            pixels: (0..<(61 * 17)).map { _ in Float(Int64(random.next() % 2_000_001) - 1_000_000) / 977 })
        let counts = Image(width: 61, height: 17, pixels: (0..<(61 * 17)).map { _ in Float(random.next() % 65536) })
        var files: [(URL, Image, TIFFFile.StoredType)] = []
        for (image, type) in [(float, TIFFFile.StoredType.float32), (counts, .uint16)] {
            let url = temporary("deflated-\(type).tif")
            try TIFFFile.write(image, as: type, to: url, compression: .deflate(level: 1), pixelSize: 0.25)
            let contents = try TIFFFile.contents(of: url)
            #expect(contents.frames == [image], "\(type)")
            let calibration = try #require(contents.calibration)
            #expect(abs(calibration.angstrom - 0.25) < 1e-9 && calibration.source == "ImageJ metadata")
            files.append((url, image, type))
        }
        defer { for (url, _, _) in files { try? FileManager.default.removeItem(at: url) } }
        let checks = files.map { url, image, _ in
            "check('\(url.path)', \(image.pixels.map { "\($0)" }.joined(separator: ",")))"
        }.joined(separator: "\n")
        _ = try await python(
            """
            import numpy as np, tifffile
            def check(path, *values):
                with tifffile.TiffFile(path) as f:
                    page = f.pages[0]
                    assert page.compression == 8, page.compression
                    assert page.predictor in (2, 3), page.predictor
                    data = page.asarray()
                    assert data.shape == (17, 61), data.shape
                    assert np.array_equal(data.ravel().astype(np.float64), np.array(values, dtype=np.float32).astype(np.float64))
                    assert f.imagej_metadata['unit'] == 'nm', f.imagej_metadata
                    assert abs(page.tags['XResolution'].value[0] / page.tags['XResolution'].value[1] - 40) < 1e-6
            \(checks)
            print('ok')
            """)
    }

    @Test("big-endian 8-bit TIFF is read; a compression not read (JPEG) is refused with its name")
    func tiffVariants() throws {
        // A 2 x 1 big-endian 8-bit image: header, one IFD with 7 entries, then the pixels.
        func entry(_ tag: UInt16, _ type: UInt16, _ value: UInt32) -> [UInt8] {
            let v: [UInt8] =
                type == 3
                ? [UInt8(value >> 8), UInt8(value & 0xFF), 0, 0]
                : [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
            return [UInt8(tag >> 8), UInt8(tag & 0xFF), UInt8(type >> 8), UInt8(type & 0xFF), 0, 0, 0, 1] + v
        }
        func tiff(compression: UInt32) -> [UInt8] {
            let entries: [[UInt8]] = [
                entry(256, 3, 2), entry(257, 3, 1), entry(258, 3, 8), entry(259, 3, compression), entry(262, 3, 1),
                entry(273, 4, 8 + 2 + 7 * 12 + 4), entry(279, 4, 2),
            ]
            return [0x4D, 0x4D, 0, 42, 0, 0, 0, 8, 0, 7] + entries.flatMap { $0 } + [0, 0, 0, 0] + [17, 200]
        }
        #expect(try TIFFFile.decode(tiff(compression: 1)).pixels == [17, 200])
        #expect {
            try TIFFFile.decode(tiff(compression: 7))
        } throws: { error in
            (error as? ImageFileError)?.problem.contains("compressed with JPEG (7)") == true
        }
    }

    @Test("PNG files are valid: numpy-free check of signature, size and checksum")
    func png() async throws {
        let url = temporary("f.png")
        defer { try? FileManager.default.removeItem(at: url) }
        try PNGFile.write(width: 3, height: 2, channels: 3, pixels: (0..<18).map { UInt8($0 * 10) }, to: url)
        let report = try await python(
            """
            import zlib, struct
            b = open('\(url.path)', 'rb').read()
            assert b[:8] == b'\\x89PNG\\r\\n\\x1a\\n'
            w, h = struct.unpack('>II', b[16:24])
            pos, data = 8, b''
            while pos < len(b):
                n = struct.unpack('>I', b[pos:pos+4])[0]; t = b[pos+4:pos+8]; body = b[pos+8:pos+8+n]
                assert struct.unpack('>I', b[pos+8+n:pos+12+n])[0] == zlib.crc32(t + body)
                if t == b'IDAT': data += body
                pos += 12 + n
            raw = zlib.decompress(data)
            print(w, h, len(raw), raw[1 + 3 * 3 - 1])
            """)
        #expect(report == "3 2 20 80")
    }
}
