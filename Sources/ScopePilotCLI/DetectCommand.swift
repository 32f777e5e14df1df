import ArgumentParser
import DefectDetection
import Foundation
import ImageIO
import ImageNumerics

/// `scopepilot detect`: finds single-atom defects in image files.
struct DetectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Find single-atom defects in existing images (.npy or .tif).",
        discussion: """
            Reads 2-D NumPy arrays (float32, float64, uint16) and grayscale TIFF (8/16-bit, float32), \
            128 to 4096 pixels a side. Images are resampled to the model's pixel size internally; \
            coordinates are reported in the input's pixels (x = column, y = row, origin top-left, pixel \
            centres at integers). One JSON object per image: on stdout, one per line, or DIR/STEM.json with --out.

            The pixel size is checked against the lattice each image shows: its period, measured from \
            the power spectrum, and WSe2's 2.84 Å between {100} planes imply the pixel size, and an image \
            whose claimed size is more than 15 % off is refused with the measured one (a Å/nm mix-up or a \
            wrong calibration would otherwise give thousands of confident "defects"). --pixel-size auto \
            uses the measurement; an image showing no lattice is analysed at the size given.
            """)

    @Argument(help: "Image files.") var files: [String]
    @Option(help: "Pixel size of the images, Å, or auto: measured from the lattice.") var pixelSize: PixelSizeOption
    @Option(help: "The sample's spacing of first-order lattice planes, Å (WSe2: 2.842).")
    var latticePeriod = LatticePeriod.wse2
    @Flag(help: "Do not check the pixel size against the lattice (a sample whose lattice is not known).")
    var noPixelSizeCheck = false
    @Option(
        help:
            "Model: a .safetensors file (its .json beside it) from scopepilot train, or a shipped one: se1 (the default) or all (Se1, Se2 and W)."
    )
    var model: String?
    @Option(help: "Folder for STEM.json (and STEM-overlay.png); stdout when absent.") var out: String?
    @Flag(help: "Also write STEM-overlay.png with the detections marked.") var overlay = false
    @Option(help: "Probability a pixel needs to count as a defect.") var threshold: Float = 0.6

    func validate() throws {
        if let given = pixelSize.given, !(0.02...5).contains(given) {
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
        let pixelSizeAngstrom: Double
        /// The pixel size the image's lattice implies (nil: no lattice seen, or not checked).
        let measuredPixelSizeAngstrom: Double?
        let model: String
        let defects: [Found]

        enum CodingKeys: String, CodingKey {
            case image, pixelSizeAngstrom = "pixel_size_angstrom", model, defects
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
            do {
                let url = URL(fileURLWithPath: file)
                let image = try Self.read(url)
                let (pixelSize, measured) = try self.pixelSize.resolve(
                    for: image, samplePeriod: latticePeriod, checked: !noPixelSizeCheck)
                let found = detector.detect(image, pixelSize: pixelSize, threshold: threshold)
                let output = Output(
                    image: file, pixelSizeAngstrom: (pixelSize * 10_000).rounded() / 10_000,
                    measuredPixelSizeAngstrom: measured.map { ($0 * 10_000).rounded() / 10_000 }, model: model,
                    defects: found.sorted { ($0.y, $0.x) < ($1.y, $1.x) }.map {
                        .init(
                            x: ($0.x * 100).rounded() / 100, y: ($0.y * 100).rounded() / 100, type: $0.kind.description,
                            confidence: ($0.confidence * 1000).rounded() / 1000)
                    })
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                let json = try encoder.encode(output)
                let stem = url.deletingPathExtension().lastPathComponent
                if let folder {
                    try json.write(to: folder.appendingPathComponent("\(stem).json"))
                } else {
                    FileHandle.standardOutput.write(json + Data("\n".utf8))
                }
                if overlay {
                    let target = (folder ?? url.deletingLastPathComponent()).appendingPathComponent(
                        "\(stem)-overlay.png")
                    try Self.writeOverlay(image, found, to: target)
                }
            } catch {
                failures += 1
                FileHandle.standardError.write(Data("scopepilot detect: \(file): \(error)\n".utf8))
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }

    /// The model named by a `--model` option, or the reason it cannot be had, as a command-line error.
    static func loadModel(_ pathOrName: String?) throws -> (DefectDetector, URL) {
        do {
            return try DefectDetector.load(pathOrName)
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// Reads a supported image and checks its size.
    static func read(_ url: URL) throws -> Image {
        let image = try ImageFile.read(url)
        guard (128...4096).contains(image.width), (128...4096).contains(image.height) else {
            throw ImageFileError(
                path: url.path,
                problem: "\(image.width) x \(image.height) pixels; images must be 128 to 4096 pixels a side")
        }
        guard image.pixels.allSatisfy(\.isFinite) else {
            throw ImageFileError(.content, path: url.path, problem: "the image holds NaN or infinite values")
        }
        return image
    }

    /// The image, stretched to gray, with a square around each detection (yellow Se1, red Se2, cyan W).
    static func writeOverlay(_ image: Image, _ found: [DefectLocation], to url: URL) throws {
        let gray = PNGFile.stretch(image)
        var rgb = [UInt8](repeating: 0, count: gray.count * 3)
        for (i, value) in gray.enumerated() { (rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]) = (value, value, value) }
        let colours: [DefectClass: [UInt8]] = [.se1: [255, 220, 0], .se2: [255, 40, 40], .w: [0, 220, 255]]
        let half = max(4, image.width / 100)
        for defect in found {
            let colour = colours[defect.kind] ?? [255, 255, 255]
            let cx = Int(defect.x.rounded())
            let cy = Int(defect.y.rounded())
            for d in -half...half {
                for (x, y) in [(cx + d, cy - half), (cx + d, cy + half), (cx - half, cy + d), (cx + half, cy + d)]
                where x >= 0 && y >= 0 && x < image.width && y < image.height {
                    let p = 3 * (y * image.width + x)
                    (rgb[p], rgb[p + 1], rgb[p + 2]) = (colour[0], colour[1], colour[2])
                }
            }
        }
        try PNGFile.write(width: image.width, height: image.height, channels: 3, pixels: rgb, to: url)
    }
}
