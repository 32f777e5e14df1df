import Foundation
import ImageIO
import ImageNumerics
import WireProtocol

extension Recording {
    /// How a folder's frames are described where their files do not say.
    public struct FolderSettings: Sendable {
        /// A CSV of stage positions and settings per file (default: the folder's `positions.csv`,
        /// if there is one).
        public var positions: String?
        /// Pixel size, Å, for files that state none and have no `pixel_size_angstrom` in the CSV.
        public var pixelSize: Double?
        /// The channel name of a file the CSV gives none for.
        public var channel = "HAADF"
        /// Dwell per pixel, µs, of a file the CSV gives none for.
        public var dwell = 10.0

        /// Default settings.
        public init() {}
    }

    /// The columns a positions CSV may have.
    static let positionColumns = [
        "file", "x_nm", "y_nm", "pixel_size_angstrom", "rotation_deg", "dwell_us", "channel", "frame",
    ]

    /// The frames of a folder of image files (any format `scopepilot detect` reads; each page of
    /// a series is a frame). With a positions CSV (columns `file`, `x_nm`, `y_nm` and, optionally,
    /// `pixel_size_angstrom`, `rotation_deg`, `dwell_us`, `channel`, and `frame`: rows with the same
    /// `frame` are one frame's channels), its rows in order; without, every image file by name.
    /// A frame's stage position and pixel size come from the CSV, else from the file's metadata
    /// (DigitalMicrograph's stage position, any format's calibration).
    public static func folder(_ path: String, settings: FolderSettings = .init()) throws(ReplayError) -> Recording {
        let folder = URL(fileURLWithPath: path, isDirectory: true).standardizedFileURL
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isFolder), isFolder.boolValue else {
            throw ReplayError("\(path) is not a folder")
        }
        let csv =
            settings.positions
            ?? {
                let candidate = folder.appendingPathComponent("positions.csv").path
                return FileManager.default.fileExists(atPath: candidate) ? candidate : nil
            }()
        let rows: [PositionRow]
        if let csv {
            rows = try PositionRow.read(csv)
        } else {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
            rows = names.sorted().filter {
                ImageFile.extensions.contains(URL(fileURLWithPath: $0).pathExtension.lowercased())
            }
            .map { PositionRow(line: 0, file: $0) }
            guard !rows.isEmpty else {
                throw ReplayError(
                    "\(path) holds no image file (\(ImageFile.extensions.map { ".\($0)" }.joined(separator: ", ")))")
            }
        }
        // Rows of one `frame` are its channels; a row without `frame` is a frame of its own.
        var groups: [[PositionRow]] = []
        var groupOf: [String: Int] = [:]
        for row in rows {
            if let key = row.frame, let index = groupOf[key] {
                groups[index].append(row)
            } else {
                if let key = row.frame { groupOf[key] = groups.count }
                groups.append([row])
            }
        }
        let start = Date().timeIntervalSince1970
        var frames: [RecordedFrame] = []
        var skipped: [String] = []
        var positioned = true
        for group in groups {
            do {
                let (found, placed) = try Self.frames(
                    of: group, in: folder, settings: settings, csv: csv, time: start + Double(frames.count))
                frames += found
                positioned = positioned && placed
            } catch {
                skipped.append(error.description)
            }
        }
        guard !frames.isEmpty else {
            throw ReplayError("no frame of \(path) can be served:\n  " + skipped.joined(separator: "\n  "))
        }
        return Recording(
            frames: frames, origin: .folder(folder.path, mode: "order"), instrument: "frames of \(folder.path)",
            limits: limits(spanning: frames), positioned: positioned, skipped: skipped)
    }

    /// The frames one group of rows describes: one per page of its files (every channel's file
    /// must have as many pages and the same size), and whether their stage position is known
    /// (from the CSV, else from the first file's metadata).
    private static func frames(
        of group: [PositionRow], in folder: URL, settings: FolderSettings, csv: String?, time: Double
    ) throws(ReplayError) -> ([RecordedFrame], Bool) {
        let first = group[0]
        let place = csv.map { "\($0) line \(first.line)" } ?? first.file
        var channels: [String] = []
        var urls: [URL] = []
        var pages: [[Image]] = []
        var calibration: PixelCalibration?
        var stage: ImageFileContents.StageReading?
        for row in group {
            let url = row.file.hasPrefix("/") ? URL(fileURLWithPath: row.file) : folder.appendingPathComponent(row.file)
            let contents: ImageFileContents
            do { contents = try ImageFile.contents(of: url) } catch {
                throw ReplayError("\(place): \(error)")
            }
            let name = row.channel ?? settings.channel
            guard !channels.contains(name) else {
                throw ReplayError("\(place): channel \(name) is given twice for frame \(row.frame ?? row.file)")
            }
            channels.append(name)
            urls.append(url)
            pages.append(contents.frames)
            calibration = calibration ?? contents.calibration
            stage = stage ?? contents.stage
        }
        let sizes = Set(pages.flatMap { $0.map { "\($0.width)x\($0.height)" } })
        guard sizes.count == 1, Set(pages.map(\.count)).count == 1, let image = pages.first?.first else {
            throw ReplayError("\(place): the channels' files differ in size or page count (\(sizes.sorted()))")
        }
        guard (16...ScanGeometry.maxPixels).contains(image.width), (16...ScanGeometry.maxPixels).contains(image.height)
        else {
            throw ReplayError("\(place): \(image.width) x \(image.height) pixels; frames are 16 to 16384 pixels a side")
        }
        if let bad = pages.flatMap({ $0 }).first(where: { !$0.pixels.allSatisfy(\.isFinite) }) {
            _ = bad
            throw ReplayError("\(place): the image holds NaN or infinite values; a driver never sends those")
        }
        guard let pixelSize = first.pixelSize ?? calibration?.angstrom ?? settings.pixelSize else {
            throw ReplayError(
                "\(place): \(first.file) states no pixel size: give pixel_size_angstrom in the CSV or --pixel-size")
        }
        guard pixelSize > 0.01 && pixelSize < 100_000 else {
            throw ReplayError("\(place): pixel size \(pixelSize) Å is not a microscope's")
        }
        let dwell = first.dwell ?? settings.dwell
        let count = pages[0].count
        let x = first.x ?? stage?.x
        let y = first.y ?? stage?.y
        let frames = (0..<count).map { page in
            let scan = ScanGeometry(
                centerX: x ?? 0, centerY: y ?? 0, fovX: Double(image.width) * pixelSize / 10,
                fovY: Double(image.height) * pixelSize / 10, width: image.width, height: image.height, dwell: dwell,
                rotation: first.rotation ?? 0)
            let names = urls.map(\.lastPathComponent).joined(separator: "+")
            return RecordedFrame(
                scan: scan, stage: StagePosition(x: scan.centerX, y: scan.centerY), channels: channels,
                purpose: .scan, time: time + Double(page), source: count > 1 ? "\(names)[\(page + 1)]" : names,
                pixels: .files(urls, page: page))
        }
        return (frames, x != nil && y != nil)
    }
}

/// One row of a positions CSV.
struct PositionRow: Sendable {
    var line: Int
    var file: String
    var x: Double?
    var y: Double?
    var pixelSize: Double?
    var rotation: Double?
    var dwell: Double?
    var channel: String?
    var frame: String?

    /// The rows of the CSV at `path`, with errors naming the line and the column.
    static func read(_ path: String) throws(ReplayError) -> [PositionRow] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ReplayError("cannot read the positions CSV \(path): \(error.localizedDescription)")
        }
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
            .enumerated().filter {
                !$0.element.trimmingCharacters(in: .whitespaces).isEmpty && !$0.element.hasPrefix("#")
            }
        guard let header = lines.first else { throw ReplayError("the positions CSV \(path) is empty") }
        let names = header.element.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        if let unknown = names.first(where: { !Recording.positionColumns.contains($0) }) {
            throw ReplayError(
                "\(path) line \(header.offset + 1): unknown column '\(unknown)'; the columns are "
                    + Recording.positionColumns.joined(separator: ", "))
        }
        guard names.contains("file") else { throw ReplayError("\(path) line \(header.offset + 1): no 'file' column") }
        guard names.contains("x_nm") == names.contains("y_nm") else {
            throw ReplayError("\(path) line \(header.offset + 1): give both x_nm and y_nm, or neither")
        }
        var rows: [PositionRow] = []
        for (offset, line) in lines.dropFirst() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard fields.count == names.count else {
                throw ReplayError("\(path) line \(offset + 1): \(fields.count) fields, the header has \(names.count)")
            }
            var row = PositionRow(line: offset + 1, file: "")
            for (name, field) in zip(names, fields) where !field.isEmpty {
                func number() throws(ReplayError) -> Double {
                    guard let value = Double(field), value.isFinite else {
                        throw ReplayError("\(path) line \(offset + 1): \(name) '\(field)' is not a finite number")
                    }
                    return value
                }
                switch name {
                case "file": row.file = field
                case "x_nm": row.x = try number()
                case "y_nm": row.y = try number()
                case "pixel_size_angstrom": row.pixelSize = try number()
                case "rotation_deg": row.rotation = try number()
                case "dwell_us":
                    row.dwell = try number()
                    guard (row.dwell ?? 0) > 0 else {
                        throw ReplayError("\(path) line \(offset + 1): dwell_us must be positive")
                    }
                case "channel": row.channel = field
                default: row.frame = field
                }
            }
            guard !row.file.isEmpty else { throw ReplayError("\(path) line \(offset + 1): no file named") }
            rows.append(row)
        }
        guard !rows.isEmpty else { throw ReplayError("the positions CSV \(path) has a header but no rows") }
        return rows
    }
}
