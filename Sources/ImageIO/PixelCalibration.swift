import Foundation

/// The pixel size an image file states for itself, and where in the file it was found.
public struct PixelCalibration: Sendable, Hashable, CustomStringConvertible {
    /// The side of a pixel, Å (along x; files with non-square pixels give x).
    public let angstrom: Double
    /// Where it came from, for a person: "ImageJ metadata", "OME-XML", "TIFF resolution tags",
    /// "DigitalMicrograph calibration".
    public let source: String

    /// A calibration of `angstrom` Å per pixel from `source`, or nil when the value is not a
    /// calibration of a microscope image: not finite or outside 0.001 Å ... 100 µm (a TIFF's
    /// "72 dots per inch" describes printing, not the sample).
    public init?(angstrom: Double, source: String) {
        guard angstrom.isFinite, angstrom >= 1e-3, angstrom <= 1e6 else { return nil }
        self.angstrom = angstrom
        self.source = source
    }

    /// Ångström in one `unit`, for the spellings microscopy files use (nm, µm, micron, Å, pm, ...);
    /// nil for a unit that is not a length (pixel, none, empty).
    public static func angstrom(in unit: String) -> Double? {
        let text = unit.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "\\u00B5", with: "µ")
        switch text.lowercased() {
        case "å", "a", "angstrom", "ångström", "angstroms": return 1
        case "pm", "picometer", "picometre": return 0.01
        case "nm", "nanometer", "nanometre", "nanometers", "nanometres": return 10
        case "µm", "μm", "um", "micron", "microns", "micrometer", "micrometre": return 1e4
        case "mm", "millimeter", "millimetre": return 1e7
        case "cm", "centimeter", "centimetre": return 1e8
        case "m", "meter", "metre": return 1e10
        default: return nil
        }
    }

    public var description: String { "\(angstrom) Å/px (\(source))" }
}
