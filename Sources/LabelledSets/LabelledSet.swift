import DefectDetection
public import Foundation
import ImageIO
import ImageNumerics

/// A folder of images with what is really in them: the input of `scopepilot eval-detector --set`
/// and `scopepilot eval-segmentation --set`.
///
/// The folder holds `set.json` (what the set is, and the names of its regions) and, for every
/// frame, `NAME.json` naming the frame's channel files and giving its pixel size, dose, defects
/// and region map. The format is in docs/LABELLED_SETS.md; Tests/Fixtures/abtem/make_sets.py
/// writes it.
public struct LabelledSet: Sendable {
    /// The folder.
    public let folder: URL
    /// What the set is, in words.
    public let description: String
    /// The region kinds, by index in the region maps (e.g. pristine, vacancy-rich, ...).
    public let regions: [String]
    /// The region kinds that show the lattice (merged into one in the "lattice-like merged"
    /// scores).
    public let latticeLike: [String]
    /// The frames, in the order of their names.
    public let frames: [LabelledFrame]

    private struct SetFile: Decodable {
        let format: String?
        let version: Int?
        let description: String?
        let regions: [String]?
        let latticeLike: [String]?
        enum CodingKeys: String, CodingKey {
            case format, version, description, regions
            case latticeLike = "lattice_like"
        }
    }

    private struct FrameFile: Decodable {
        struct Channel: Decodable {
            let name: String
            let file: String
        }
        struct Defect: Decodable {
            let type: String
            let x: Double
            let y: Double
        }
        let channels: [Channel]
        let pixelSizeAngstrom: Double
        let doseEPerAngstrom2: Double?
        let probe: String?
        let defects: [Defect]?
        let regions: String?
        enum CodingKeys: String, CodingKey {
            case channels, probe, defects, regions
            case pixelSizeAngstrom = "pixel_size_angstrom"
            case doseEPerAngstrom2 = "dose_e_per_angstrom2"
        }
    }

    /// The version of the format this reads.
    public static let formatVersion = 1

    /// Reads the set in `folder`.
    public static func load(_ folder: URL) throws -> LabelledSet {
        let fileManager = FileManager.default
        var isFolder: ObjCBool = false
        guard fileManager.fileExists(atPath: folder.path, isDirectory: &isFolder), isFolder.boolValue else {
            throw LabelledSetError(path: folder.path, problem: "no such folder")
        }
        let setURL = folder.appendingPathComponent("set.json")
        var header = SetFile(format: nil, version: nil, description: nil, regions: nil, latticeLike: nil)
        if fileManager.fileExists(atPath: setURL.path) {
            header = try decode(SetFile.self, setURL)
            if let version = header.version, version > formatVersion {
                throw LabelledSetError(
                    path: setURL.path,
                    problem: "the set is in format version \(version); this ScopePilot reads version \(formatVersion)")
            }
        }
        let regions = header.regions ?? []
        guard Set(regions).count == regions.count else {
            throw LabelledSetError(path: setURL.path, problem: "the region names repeat: \(regions)")
        }
        let latticeLike = header.latticeLike ?? []
        if let unknown = latticeLike.first(where: { !regions.contains($0) }) {
            throw LabelledSetError(
                path: setURL.path, problem: "lattice_like names '\(unknown)', which is not among the regions \(regions)"
            )
        }
        let names: [String]
        do {
            names = try fileManager.contentsOfDirectory(atPath: folder.path)
                .filter { $0.hasSuffix(".json") && $0 != "set.json" }.sorted()
        } catch {
            throw LabelledSetError(path: folder.path, problem: "cannot list the folder: \(error.localizedDescription)")
        }
        var frames: [LabelledFrame] = []
        for name in names {
            let url = folder.appendingPathComponent(name)
            let file = try decode(FrameFile.self, url)
            func fail(_ problem: String) -> LabelledSetError { LabelledSetError(path: url.path, problem: problem) }
            guard !file.channels.isEmpty else { throw fail("the frame names no channels") }
            guard Set(file.channels.map(\.name)).count == file.channels.count else {
                throw fail("the channel names repeat")
            }
            guard file.pixelSizeAngstrom > 0, file.pixelSizeAngstrom.isFinite else {
                throw fail("pixel_size_angstrom must be a positive number of Å, not \(file.pixelSizeAngstrom)")
            }
            if let dose = file.doseEPerAngstrom2, !(dose > 0 && dose.isFinite) {
                throw fail("dose_e_per_angstrom2 must be a positive number, not \(dose)")
            }
            var defects: [LabelledFrame.Defect]?
            if let labelled = file.defects {
                defects = try labelled.map { defect in
                    guard let kind = DefectClass(name: defect.type), kind != .background else {
                        throw fail("defect type '\(defect.type)' is not one of Se1, Se2, W")
                    }
                    guard defect.x.isFinite, defect.y.isFinite else { throw fail("a defect's position is not finite") }
                    return LabelledFrame.Defect(kind: kind, x: defect.x, y: defect.y)
                }
            }
            if file.regions != nil && regions.isEmpty {
                throw fail("the frame has a region map but set.json names no regions (\"regions\": [...])")
            }
            let channels = file.channels.map { (name: $0.name, file: folder.appendingPathComponent($0.file)) }
            for channel in channels where !fileManager.fileExists(atPath: channel.file.path) {
                throw fail("channel \(channel.name)'s file \(channel.file.lastPathComponent) is not in the folder")
            }
            frames.append(
                LabelledFrame(
                    name: String(name.dropLast(5)), channels: channels, pixelSize: file.pixelSizeAngstrom,
                    dose: file.doseEPerAngstrom2, probe: file.probe, defects: defects,
                    regionFile: file.regions.map { folder.appendingPathComponent($0) }))
        }
        guard !frames.isEmpty else {
            throw LabelledSetError(
                path: folder.path, problem: "no frame label files (NAME.json) in the folder; see docs/LABELLED_SETS.md")
        }
        return LabelledSet(
            folder: folder, description: header.description ?? "", regions: regions, latticeLike: latticeLike,
            frames: frames)
    }

    /// The frames grouped by dose, lowest first (frames without a dose last, as one group).
    public var doseGroups: [(dose: Double?, frames: [LabelledFrame])] {
        let grouped = Dictionary(grouping: frames) { $0.dose }
        return grouped.keys.sorted { ($0 ?? .infinity) < ($1 ?? .infinity) }.map { ($0, grouped[$0] ?? []) }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ url: URL) throws -> T {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw LabelledSetError(path: url.path, problem: "cannot read: \(error.localizedDescription)")
        }
        do { return try JSONDecoder().decode(type, from: data) } catch let DecodingError.keyNotFound(key, _) {
            throw LabelledSetError(path: url.path, problem: "missing \"\(key.stringValue)\"")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let at = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw LabelledSetError(path: url.path, problem: "\(at): \(context.debugDescription)")
        } catch {
            throw LabelledSetError(path: url.path, problem: "not valid JSON: \(error.localizedDescription)")
        }
    }

    /// An image file of the set (any format `ImageFile` reads, one image), every pixel finite; when
    /// the file states its own pixel size, it must agree with the frame's `pixelSize` (Å) within 2 %.
    static func readImage(_ url: URL, pixelSize: Double? = nil) throws -> Image {
        let contents: ImageFileContents
        do { contents = try ImageFile.contents(of: url) } catch {
            throw LabelledSetError(path: url.path, problem: error.problem)
        }
        guard contents.frames.count == 1 else {
            throw LabelledSetError(
                path: url.path, problem: "the file holds \(contents.frames.count) frames; a labelled frame is one image"
            )
        }
        let image = contents.frames[0]
        if let pixelSize, let calibration = contents.calibration,
            abs(calibration.angstrom - pixelSize) > 0.02 * pixelSize
        {
            throw LabelledSetError(
                path: url.path,
                problem:
                    "the file's \(calibration.source) gives \(calibration.angstrom) Å/px but its frame's pixel_size_angstrom "
                    + "is \(pixelSize): correct whichever is wrong")
        }
        guard image.pixels.allSatisfy(\.isFinite) else {
            throw LabelledSetError(path: url.path, problem: "the image holds NaN or infinite values")
        }
        return image
    }
}
