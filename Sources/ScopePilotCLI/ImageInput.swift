import ArgumentParser
import DefectDetection
import Foundation
import ImageIO
import ImageNumerics

/// One image a command analyses: a file, or one frame of a file holding a series, with the pixel
/// size the file states for itself.
struct ImageInput {
    /// The file as the user named it.
    let file: String
    /// The frame's place in a series, from 1 (nil: the file holds one image).
    let frame: Int?
    let image: Image
    /// The file's own calibration.
    let calibration: PixelCalibration?

    /// The name a person sees: the file, with `[k]` for frame k of a series.
    var name: String { frame.map { "\(file)[\($0)]" } ?? file }

    /// A file stem for outputs: the file's, with `-frameK` for frame K of a series.
    var stem: String {
        let base = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        return frame.map { "\(base)-frame\($0)" } ?? base
    }

    /// Every frame of `path`, each checked: 128 to 4096 pixels a side, finite values.
    static func read(_ path: String) throws -> [ImageInput] {
        let url = URL(fileURLWithPath: path)
        let contents = try ImageFile.contents(of: url)
        let series = contents.frames.count > 1
        return try contents.frames.enumerated().map { index, image in
            let place = series ? " (frame \(index + 1) of \(contents.frames.count))" : ""
            guard (128...4096).contains(image.width), (128...4096).contains(image.height) else {
                throw ImageFileError(
                    path: url.path,
                    problem: "\(image.width) x \(image.height) pixels\(place); images must be 128 to 4096 pixels a side"
                )
            }
            guard image.pixels.allSatisfy(\.isFinite) else {
                throw ImageFileError(
                    .content, path: url.path, problem: "the image\(place) holds NaN or infinite values")
            }
            return ImageInput(
                file: path, frame: series ? index + 1 : nil, image: image, calibration: contents.calibration)
        }
    }
}

extension ImageInput {
    /// Every frame (each page of a series) of `paths`, which one command option named, and their
    /// one pixel size: `pixelSize` (given by `pixelSizeOption`) or the files' own calibration,
    /// which must then agree with it within 2 %, each checked against its frame's lattice.
    /// Frames of different pixel sizes, or not at atomic resolution (0.05 to 1 Å), are refused.
    static func frames(
        of paths: [String], pixelSize: Double?, option: String, pixelSizeOption: String
    ) throws -> (frames: [Image], pixelSize: Double) {
        let inputs = try paths.flatMap { try ImageInput.read($0) }
        var sizes: [Double] = []
        for input in inputs {
            guard pixelSize != nil || input.calibration != nil else {
                throw ValidationError(
                    "\(option) needs \(pixelSizeOption): \(input.name) states no pixel size of its own (give it in Å)")
            }
            do {
                let resolved = try PixelSizeOption.resolve(
                    pixelSize.map(PixelSizeOption.given), for: input, samplePeriod: LatticePeriod.wse2)
                sizes.append(resolved.value)
            } catch {
                throw ValidationError("\(option) \(input.name): \(error)")
            }
        }
        guard !sizes.isEmpty else { throw ValidationError("\(option): no frames") }
        let median = sizes.sorted()[sizes.count / 2]
        if let odd = zip(inputs, sizes).first(where: {
            abs($0.1 - median) > PixelSizeOption.calibrationTolerance * median
        }) {
            throw ValidationError(
                "\(option) \(odd.0.name) is at \(odd.1) Å/px but the other frames at \(median): the frames must share one "
                    + "pixel size")
        }
        guard median > 0.05 && median <= 1 else {
            throw ValidationError("the \(option) frames' pixel size \(median) Å is not atomic resolution (0.05 to 1 Å)")
        }
        return (inputs.map(\.image), median)
    }
}
