public import Foundation
import ImageNumerics

/// Gatan DigitalMicrograph files (.dm3, .dm4), read natively: the image (or stack of images) with
/// its data type and its spatial calibration. The format is a tree of tagged groups and values,
/// described publicly (for example in Chris Boothroyd's and Greg Jefferis's notes on DM3 and in
/// Gatan's own DM4 notes): a header, then groups of tags whose headers are big-endian and whose
/// values are in the byte order the header names.
public enum DigitalMicrographFile {
    /// Every frame in a .dm3 or .dm4 file (a stack gives one frame per plane) and its calibration.
    public static func contents(of url: URL) throws(ImageFileError) -> ImageFileContents {
        try decode(ImageFile.bytes(of: url), path: url.path)
    }

    /// Decodes .dm3 or .dm4 bytes.
    public static func decode(_ bytes: [UInt8], path: String = "<data>") throws(ImageFileError) -> ImageFileContents {
        var parser = DigitalMicrographTags(bytes: bytes, path: path)
        let root = try parser.parseFile()
        guard case .group(let entries) = root, let list = entries.first(where: { $0.label == "ImageList" })?.node,
            case .group(let images) = list
        else { throw parser.fail("no ImageList: the file holds no image") }
        // The first image is usually the thumbnail DigitalMicrograph shows; take the largest gray one.
        var best:
            (
                elements: Int, data: DigitalMicrographTags.Value, dimensions: [Int], type: Int,
                node: DigitalMicrographTags.Node, image: DigitalMicrographTags.Node
            )?
        for image in images.map(\.node) {
            guard let data = image["ImageData"], case .value(let values)? = data["Data"],
                let type = parser.integer(data["DataType"]),
                case .group(let dims)? = data["Dimensions"]
            else { continue }
            let dimensions = dims.map { parser.integer($0.node) ?? 0 }
            // Each side at most 2^20 and at most four of them: their product cannot overflow.
            guard dimensions.count <= 4, dimensions.allSatisfy({ (1...(1 << 20)).contains($0) }) else { continue }
            let elements = dimensions.reduce(1, *)
            guard ![8, 23].contains(type), elements > 0, elements <= bytes.count else { continue }
            if elements >= (best?.elements ?? 0) { best = (elements, values, dimensions, type, data, image) }
        }
        guard let best else {
            throw parser.fail("no grayscale image in the ImageList (only thumbnails or RGB images)")
        }
        let dimensions = best.dimensions
        guard dimensions.count == 2 || dimensions.count == 3 else {
            throw parser.fail(
                "the data has \(dimensions.count) dimensions (\(dimensions.map(String.init).joined(separator: " x "))); "
                    + "an image is 2-D, a stack 3-D (spectra and 4-D data are not images)")
        }
        let (width, height) = (dimensions[0], dimensions[1])
        let planes = dimensions.count == 3 ? dimensions[2] : 1
        let element = try parser.sampleType(of: best.data, dataType: best.type)
        guard best.data.count == width * height * planes else {
            throw parser.fail("the data holds \(best.data.count) values, not \(width) x \(height) x \(planes)")
        }
        let planeSize = width * height
        var frames: [Image] = []
        for plane in 0..<planes {
            let start = best.data.offset + plane * planeSize * element.size
            let values = element.values(bytes[start..<(start + planeSize * element.size)], count: planeSize)
            frames.append(Image(width: width, height: height, pixels: values))
        }
        return ImageFileContents(
            frames: frames, calibration: calibration(best.node, parser), stage: stage(best.image, parser))
    }

    /// The stage position in `ImageTags.Microscope Info.Stage Position` (DigitalMicrograph keeps µm).
    private static func stage(
        _ image: DigitalMicrographTags.Node, _ parser: DigitalMicrographTags
    ) -> ImageFileContents.StageReading? {
        let position = image["ImageTags"]?["Microscope Info"]?["Stage Position"]
        guard let x = parser.real(position?["Stage X"]), let y = parser.real(position?["Stage Y"]), x.isFinite,
            y.isFinite
        else { return nil }
        return ImageFileContents.StageReading(
            x: x * 1000, y: y * 1000, source: "DigitalMicrograph Microscope Info.Stage Position (µm)")
    }

    /// The x axis's Scale and Units from `Calibrations.Dimension`, in Å.
    private static func calibration(
        _ imageData: DigitalMicrographTags.Node, _ parser: DigitalMicrographTags
    ) -> PixelCalibration? {
        guard case .group(let dimensions)? = imageData["Calibrations"]?["Dimension"], let x = dimensions.first?.node,
            let scale = parser.real(x["Scale"]), let units = parser.text(x["Units"]),
            let perUnit = PixelCalibration.angstrom(in: units)
        else { return nil }
        return PixelCalibration(angstrom: abs(scale) * perUnit, source: "DigitalMicrograph calibration")
    }
}
