import ArgumentParser
import DefectDetection
import Foundation
import ImageIO
import ImageNumerics

/// `scopepilot detect`: finds single-atom defects in image files.
struct DetectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Find single-atom defects in existing images (.npy, .tif, .png, .dm3, .dm4).",
        discussion: """
            Reads 2-D NumPy arrays of any numeric dtype, grayscale TIFF and BigTIFF (any sample type; \
            uncompressed, deflate, LZW or PackBits; strips or tiles), 1 to 16-bit grayscale PNG and \
            Gatan .dm3/.dm4, 128 to 4096 pixels a side; a multi-page TIFF or a DM stack is a series, \
            each frame detected on its own (STEM-frameK). A file's own pixel size (OME-XML, ImageJ or \
            resolution tags; DM calibration) is used when --pixel-size is left out, and must agree with \
            --pixel-size within 2 % when both are given. Vendor formats such as Velox .emd go through \
            the Python package: python -m scopepilot convert FILE. Images are resampled to the model's \
            pixel size internally; coordinates are reported in the input's pixels (x = column, y = row, \
            origin top-left, pixel centres at integers). One JSON object per image: on stdout, one per \
            line, or DIR/STEM.json with --out.

            The pixel size is checked against the lattice each image shows: its period, measured from \
            the power spectrum, and WSe2's 2.84 Å between {100} planes imply the pixel size, and an image \
            whose claimed size is more than 15 % off is refused with the measured one (a Å/nm mix-up or a \
            wrong calibration would otherwise give thousands of confident "defects"). --pixel-size auto \
            uses the measurement; an image showing no lattice is analysed at the size given.
            """)

    @Argument(help: "Image files.") var files: [String]
    @Option(
        help: "Pixel size of the images, Å, or auto: measured from the lattice (default: each file's own calibration).")
    var pixelSize: PixelSizeOption?
    @Option(help: "The sample's spacing of first-order lattice planes, Å (WSe2: 2.842).")
    var latticePeriod = LatticePeriod.wse2
    @Flag(help: "Do not check the pixel size against the lattice (a sample whose lattice is not known).")
    var noPixelSizeCheck = false
    @Option(
        help:
            "Model: a .safetensors file (its .json beside it) from scopepilot train, or a shipped one: se1 (the default) or all (Se1, Se2 and W)."
    )
    var model: String?
    @Option(
        help:
            "Folder for STEM.json, STEM-overlay.png and the probability maps; without it, JSON to stdout and the rest beside each input."
    )
    var out: String?
    @Flag(help: "Also write STEM-overlay.png: the detections marked, a legend and a scale bar.") var overlay = false
    @Flag(
        help:
            "Also write each class's probability map as float32 .npy in the input's pixels: STEM-probability-Se1.npy, ..."
    )
    var probabilities = false
    @Option(help: "Probability a pixel needs to count as a defect.") var threshold: Float = 0.6

    func validate() throws {
        if let given = pixelSize?.given, !(0.02...5).contains(given) {
            throw ValidationError(
                "--pixel-size \(given) Å is not plausible for atomic-resolution images (0.02 to 5 Å)")
        }
        guard latticePeriod.isFinite, latticePeriod > 0.5, latticePeriod < 50 else {
            throw ValidationError("--lattice-period is a plane spacing in Å (0.5 to 50)")
        }
        if noPixelSizeCheck && pixelSize == .measured {
            throw ValidationError("--pixel-size auto measures the lattice; it cannot go with --no-pixel-size-check")
        }
        guard threshold > 0, threshold < 1 else { throw ValidationError("--threshold must be between 0 and 1") }
        guard !files.isEmpty else { throw ValidationError("give at least one image file") }
    }

    struct Output: Encodable {
        struct Found: Encodable {
            let x: Double
            let y: Double
            let type: String
            let confidence: Float
        }

        let image: String
        /// The frame's place in a series (nil: the file holds one image).
        let frame: Int?
        let pixelSizeAngstrom: Double
        /// Where the pixel size came from: the file's calibration, --pixel-size, or the lattice.
        let pixelSizeSource: String
        /// The pixel size the image's lattice implies (nil: no lattice seen, or not checked).
        let measuredPixelSizeAngstrom: Double?
        let model: String
        let defects: [Found]

        enum CodingKeys: String, CodingKey {
            case image, frame, pixelSizeAngstrom = "pixel_size_angstrom", model, defects
            case pixelSizeSource = "pixel_size_source"
            case measuredPixelSizeAngstrom = "measured_pixel_size_angstrom"
        }
    }

    func run() throws {
        let (detector, modelURL) = try Self.loadModel(model)
        let model = modelURL.path
        let folder = out.map { URL(fileURLWithPath: $0, isDirectory: true) }
        if let folder { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        var failures = 0
        for file in files {
            let inputs: [ImageInput]
            do { inputs = try ImageInput.read(file) } catch {
                failures += 1
                FileHandle.standardError.write(Data("scopepilot detect: \(error)\n".utf8))
                continue
            }
            for input in inputs {
                do {
                    try detect(input, detector, model: model, folder: folder)
                } catch {
                    failures += 1
                    FileHandle.standardError.write(Data("scopepilot detect: \(input.name): \(error)\n".utf8))
                }
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }

    /// Detects the defects in one image and writes what was asked for.
    private func detect(_ input: ImageInput, _ detector: DefectDetector, model: String, folder: URL?) throws {
        let (pixelSize, measured, source) = try PixelSizeOption.resolve(
            self.pixelSize, for: input, samplePeriod: latticePeriod, checked: !noPixelSizeCheck)
        guard (0.02...5).contains(pixelSize) else {
            throw ValidationError(
                "\(source) gives \(pixelSize) Å/px, which is not atomic resolution (0.02 to 5 Å): the detector cannot see atoms"
            )
        }
        let image = input.image
        let (found, maps): ([DefectLocation], [Image])
        if probabilities {
            (found, maps) = detector.detectWithProbabilities(image, pixelSize: pixelSize, threshold: threshold)
        } else {
            (found, maps) = (detector.detect(image, pixelSize: pixelSize, threshold: threshold), [])
        }
        let output = Output(
            image: input.file, frame: input.frame, pixelSizeAngstrom: (pixelSize * 10_000).rounded() / 10_000,
            pixelSizeSource: source,
            measuredPixelSizeAngstrom: measured.map { ($0 * 10_000).rounded() / 10_000 }, model: model,
            defects: found.sorted { ($0.y, $0.x) < ($1.y, $1.x) }.map {
                .init(
                    x: ($0.x * 100).rounded() / 100, y: ($0.y * 100).rounded() / 100, type: $0.kind.description,
                    confidence: ($0.confidence * 1000).rounded() / 1000)
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = try encoder.encode(output)
        let url = URL(fileURLWithPath: input.file)
        if let folder {
            try json.write(to: folder.appendingPathComponent("\(input.stem).json"))
        } else {
            FileHandle.standardOutput.write(json + Data("\n".utf8))
        }
        // Pictures and maps go to --out, or beside the input.
        let beside = folder ?? url.deletingLastPathComponent()
        do {
            if overlay {
                try Self.writeOverlay(
                    image, found, classes: detector.metadata.classes.compactMap(DefectClass.init(name:)),
                    pixelSize: pixelSize, to: beside.appendingPathComponent("\(input.stem)-overlay.png"))
            }
            if probabilities { _ = try Self.writeProbabilities(maps, folder: beside, stem: input.stem) }
        } catch {
            throw ValidationError(
                "\(error)\(folder == nil ? " (the pictures go beside the input without --out: give --out DIR for a folder you can write)" : "")"
            )
        }
    }

    /// The model named by a `--model` option, or the reason it cannot be had, as a command-line error.
    static func loadModel(_ pathOrName: String?) throws -> (DefectDetector, URL) {
        do {
            return try DefectDetector.load(pathOrName)
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// Colours of the defect classes in overlays: yellow Se1, red Se2, cyan W.
    static let colours: [DefectClass: [UInt8]] = [.se1: [255, 220, 0], .se2: [255, 40, 40], .w: [0, 220, 255]]

    /// The image, stretched to gray, with a square around each detection, a legend of the model's
    /// defect classes (with how many were found) and a scale bar.
    static func writeOverlay(
        _ image: Image, _ found: [DefectLocation], classes: [DefectClass], pixelSize: Double, to url: URL
    ) throws {
        var canvas = OverlayCanvas(image)
        let half = max(4, image.width / 100)
        for defect in found {
            canvas.square(
                cx: Int(defect.x.rounded()), cy: Int(defect.y.rounded()), half: half,
                colours[defect.kind] ?? [255, 255, 255])
        }
        canvas.legend(
            classes.filter { $0 != .background }.map { kind in
                ("\(kind) (\(found.filter { $0.kind == kind }.count))", colours[kind] ?? [255, 255, 255])
            })
        canvas.scaleBar(pixelSize: pixelSize)
        try canvas.write(to: url)
    }

    /// Writes each class's probability map as float32 .npy beside `stem` in `folder`:
    /// STEM-probability-background.npy, STEM-probability-Se1.npy, ...
    static func writeProbabilities(_ maps: [Image], folder: URL, stem: String) throws -> [URL] {
        try maps.enumerated().map { index, map in
            let name = DefectClass(rawValue: index)?.description ?? "class\(index)"
            let url = folder.appendingPathComponent("\(stem)-probability-\(name).npy")
            try NumpyFile.write(map, as: .float32, to: url)
            return url
        }
    }
}
