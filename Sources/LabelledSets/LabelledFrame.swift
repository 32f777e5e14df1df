public import DefectDetection
public import Foundation
public import ImageNumerics

/// One frame of a labelled set: its channels, calibration, dose and what is really there.
///
/// Read from `NAME.json` beside its image files (docs/LABELLED_SETS.md); images are loaded when
/// asked for, so a large set is never held in memory at once.
public struct LabelledFrame: Sendable {
    /// A defect that is really there, in pixel coordinates (x right, y down, pixel centres at
    /// integers).
    public struct Defect: Sendable, Hashable {
        /// Its type.
        public let kind: DefectClass
        /// Column, pixels.
        public let x: Double
        /// Row, pixels.
        public let y: Double

        /// A defect of `kind` at (`x`, `y`) px.
        public init(kind: DefectClass, x: Double, y: Double) {
            self.kind = kind
            self.x = x
            self.y = y
        }
    }

    /// The frame's name: its label file's name without `.json`.
    public let name: String
    /// Its channels in order, each a name and an image file (the first is the one the detector reads
    /// unless one is named HAADF).
    public let channels: [(name: String, file: URL)]
    /// Pixel size, Å.
    public let pixelSize: Double
    /// Electron dose, e/Å², when the set says it.
    public let dose: Double?
    /// The probe condition's name, when the set says it.
    public let probe: String?
    /// Every labelled defect, or nil when the frame is not labelled for defects.
    public let defects: [Defect]?
    /// The file of per-pixel region indices (into the set's `regions`), or nil when the frame is
    /// not labelled for regions.
    public let regionFile: URL?

    /// The channel the defect detector reads: HAADF when there is one, else the first.
    public var detectorChannel: (name: String, file: URL) {
        channels.first { $0.name.uppercased() == "HAADF" } ?? channels[0]
    }

    /// Loads one channel's image.
    public func image(_ channel: (name: String, file: URL)) throws -> Image {
        try LabelledSet.readImage(channel.file, pixelSize: pixelSize)
    }

    /// Loads the region map, checked against the frame's size and the set's number of regions.
    public func regionMap(width: Int, height: Int, regions: Int) throws -> [Int]? {
        guard let regionFile else { return nil }
        let map = try LabelledSet.readImage(regionFile)
        guard map.width == width, map.height == height else {
            throw LabelledSetError(
                path: regionFile.path,
                problem: "the region map is \(map.width) x \(map.height) px but the frame is \(width) x \(height)")
        }
        var labels = [Int](repeating: 0, count: map.pixels.count)
        for (index, value) in map.pixels.enumerated() {
            guard value >= 0, value < Float(regions), value == value.rounded() else {
                throw LabelledSetError(
                    path: regionFile.path,
                    problem:
                        "pixel \(index % width), \(index / width) holds \(value), not a region index 0 ... \(regions - 1)"
                )
            }
            labels[index] = Int(value)
        }
        return labels
    }
}
