import Foundation

/// The pixel size a TIFF states: in OME-XML (`PhysicalSizeX`, µm unless
/// `PhysicalSizeXUnit` says otherwise), in ImageJ's description (`unit=` with the resolution tags
/// in pixels per unit), or in the resolution tags with a unit of cm or inch.
enum TIFFCalibration {
    /// The calibration of the page `directory`, or nil when it states none.
    static func calibration(_ directory: TIFFDirectory) -> PixelCalibration? {
        let description = directory.text(270) ?? ""
        if description.contains("<OME"), let size = omePhysicalSize(description) {
            return PixelCalibration(angstrom: size, source: "OME-XML")
        }
        let resolution = directory.real(282)
        if description.hasPrefix("ImageJ=") {
            guard let unit = imageJField(description, "unit"), let perUnit = PixelCalibration.angstrom(in: unit),
                let resolution, resolution > 0
            else { return nil }
            return PixelCalibration(angstrom: perUnit / resolution, source: "ImageJ metadata")
        }
        guard let resolution, resolution > 0 else { return nil }
        switch directory.integer(296) ?? 2 {
        case 2: return PixelCalibration(angstrom: 2.54e8 / resolution, source: "TIFF resolution tags")
        case 3: return PixelCalibration(angstrom: 1e8 / resolution, source: "TIFF resolution tags")
        default: return nil
        }
    }

    /// The number of images ImageJ's description lists (`images=N`), if it is an ImageJ file.
    static func imageJPlanes(_ description: String?) -> Int? {
        guard let description, description.hasPrefix("ImageJ=") else { return nil }
        return imageJField(description, "images").flatMap { Int($0) }
    }

    /// `key=value` on a line of ImageJ's description.
    private static func imageJField(_ description: String, _ key: String) -> String? {
        for line in description.split(whereSeparator: \.isNewline) where line.hasPrefix("\(key)=") {
            return String(line.dropFirst(key.count + 1))
        }
        return nil
    }

    /// The first `Pixels` element's PhysicalSizeX, Å.
    private static func omePhysicalSize(_ xml: String) -> Double? {
        guard let pixels = xml.range(of: "<Pixels ") ?? xml.range(of: ":Pixels ") else { return nil }
        let element = " " + xml[pixels.upperBound...].prefix { $0 != ">" }
        func attribute(_ name: String) -> String? {
            guard let start = element.range(of: " \(name)=\"") else { return nil }
            return String(element[start.upperBound...].prefix { $0 != "\"" })
        }
        guard let size = attribute("PhysicalSizeX").flatMap(Double.init) else { return nil }
        let unit = attribute("PhysicalSizeXUnit") ?? "µm"
        return PixelCalibration.angstrom(in: unit).map { size * $0 }
    }
}
