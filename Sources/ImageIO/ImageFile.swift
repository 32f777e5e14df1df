public import Foundation
public import ImageNumerics

/// Image files of every format ScopePilot reads, chosen by the file's extension.
public enum ImageFile {
    /// The extensions read natively, lowercased.
    public static let extensions = ["npy", "tif", "tiff", "png", "dm3", "dm4"]

    /// Vendor formats read through the Python package (RosettaSciIO), with the command that converts them.
    public static let convertedExtensions = ["emd", "ser", "emi", "mrc", "hspy", "h5", "hdf5", "blo", "mib", "prz"]

    /// Every frame in `url` and the pixel size the file states, by its extension.
    public static func contents(of url: URL) throws(ImageFileError) -> ImageFileContents {
        let ext = url.pathExtension.lowercased()
        switch ext {
        case "npy": return ImageFileContents(frames: [try NumpyFile.read(url)], calibration: nil)
        case "tif", "tiff": return try TIFFFile.contents(of: url)
        case "png": return ImageFileContents(frames: [try PNGFile.read(url)], calibration: nil)
        case "dm3", "dm4": return try DigitalMicrographFile.contents(of: url)
        default:
            if convertedExtensions.contains(ext) {
                throw ImageFileError(
                    path: url.path,
                    problem:
                        "'.\(ext)' files are read through ScopePilot's Python package: `python -m scopepilot convert "
                        + "\(url.lastPathComponent)` writes a TIFF with the file's pixel size (pip install "
                        + "'scopepilot[formats]' for RosettaSciIO), then give that TIFF")
            }
            throw ImageFileError(
                path: url.path,
                problem: "unsupported file type '.\(url.pathExtension)'; give .npy, .tif, .png, .dm3 or .dm4")
        }
    }

    /// Reads the one image in `url`; a file holding a series is refused (use ``contents(of:)``).
    public static func read(_ url: URL) throws(ImageFileError) -> Image {
        try single(contents(of: url), path: url.path)
    }

    /// The one frame of `contents`, or the refusal of a series.
    static func single(_ contents: ImageFileContents, path: String) throws(ImageFileError) -> Image {
        guard contents.frames.count == 1 else {
            throw ImageFileError(
                .content, path: path,
                problem: "the file holds a series of \(contents.frames.count) frames where one image is wanted")
        }
        return contents.frames[0]
    }

    /// The bytes of `url`.
    static func bytes(of url: URL) throws(ImageFileError) -> [UInt8] {
        do { return [UInt8](try Data(contentsOf: url)) } catch {
            throw ImageFileError(
                .unreadable, path: url.path, problem: "cannot read the file: \(error.localizedDescription)")
        }
    }
}
