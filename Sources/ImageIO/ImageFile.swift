public import Foundation
public import ImageNumerics

/// Image files of every format ScopePilot reads, chosen by the file's extension.
public enum ImageFile {
    /// The extensions read, lowercased.
    public static let extensions = ["npy", "tif", "tiff"]

    /// Reads the image in `url` (.npy or .tif), any pixel values.
    public static func read(_ url: URL) throws(ImageFileError) -> Image {
        switch url.pathExtension.lowercased() {
        case "npy": return try NumpyFile.read(url)
        case "tif", "tiff": return try TIFFFile.read(url)
        default:
            throw ImageFileError(
                path: url.path, problem: "unsupported file type '.\(url.pathExtension)'; give .npy or .tif")
        }
    }
}
