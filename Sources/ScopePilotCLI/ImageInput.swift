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
