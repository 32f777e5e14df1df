import ArgumentParser
import DefectDetection
import Foundation
import ImageIO
import ImageNumerics
import Segmentation

/// `scopepilot segment`: chip communities for image files; the files of one call form one session.
struct SegmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment",
        abstract: "Group the chips of images into communities of similar areas, without labels.",
        discussion: """
            Each image is cut into chips (by default a sixteenth of the frames' shorter side, 1.2 \
            to 1.6 nm); each chip is described relative to its frame (power in rings of the lattice's \
            frequency, six-fold lattice order, intensity statistics, and the defect detector's defect \
            density), averaged with its neighbours where the frame is large enough (at most a third \
            of its side); similar chips are linked and Leiden finds communities, separately among \
            chips that show the lattice and chips that do not; communities of fewer than \
            --min-community chips are merged into their closest neighbour. All files of one call are \
            one session: the same kind of area gets the same community id in every file. Channels \
            are named by --channels (or NAME=file), never by file names. Give a multimodal frame as \
            HAADF.npy+MAADF.npy (first channel first: the detector reads it).

            Each file's own pixel size is used when --pixel-size is left out (and must agree with it \
            within 2 % when both are given); the frames of one call share one. It is checked against \
            each image's lattice as in 'scopepilot detect' (an image showing none, such as a survey \
            frame, is taken at the size given); --pixel-size auto uses the measurement (the median over \
            the files).
            """)

    @Argument(
        help:
            "Image files (.npy, .tif, .png, .dm3, .dm4; a multi-page file is a series); A.npy+B.npy (or HAADF=A.npy+MAADF=B.npy) for one frame with two channels."
    )
    var files: [String]
    @Option(
        help: "Pixel size of the images, Å, or auto: measured from their lattice (default: the files' own calibration)."
    )
    var pixelSize: PixelSizeOption?
    @Option(help: "The sample's spacing of first-order lattice planes, Å (WSe2: 2.842).")
    var latticePeriod = LatticePeriod.wse2
    @Flag(help: "Do not check the pixel size against the lattice (a sample whose lattice is not known).")
    var noPixelSizeCheck = false
    @Option(help: "Chip side, nm (default: a sixteenth of the frames' shorter side, 1.2 to 1.6 nm).")
    var chip: Double?
    @Option(help: "Distance between chips, nm (default: the chip side, a tiling).") var stride: Double?
    @Option(
        help:
            "Chips of context on each side averaged into a chip's descriptor (at most a third of the frame; weighted by how alike neighbouring chips are: none where the frame's own chips already show its structure)."
    ) var context = 2
    @Option(help: "Graph: each chip linked to its K most similar chips.") var neighbours = 20
    @Option(help: "Graph: chips compared by distance (self-tuning Gaussian weights) or cosine.")
    var similarity = "distance"
    @Option(help: "Communities of fewer chips are merged into the one they are most linked to (1: keep all).")
    var minCommunity = 3
    @Flag(
        help: """
            Describe chips by their absolute values, not relative to their frame's lattice: for a \
            session at one dose and detector setting, where a frame wholly of one kind of area \
            (all contamination, say) must differ from a frame wholly of another.
            """)
    var absolute = false
    @Flag(help: "Graph: link pairs above the mode of the similarity histogram instead (the published method).")
    var histogramCutoff = false
    @Option(help: "Quality: modularity or cpm (constant Potts).") var quality = "modularity"
    @Option(help: "Resolution of the quality function (higher: more, smaller communities).") var resolution = 0.3
    @Option(help: "Seed of the community detection.") var seed: UInt64 = 1
    @Option(help: "Names of each frame's channels, in order (NAME=file overrides one).") var channels = "HAADF,MAADF"
    @Option(help: "Channels of a multimodal frame: concatenate or average (their similarities).") var combine =
        "concatenate"
    @Option(help: "Detector for defect density (se1, all or a path); none to leave it out.") var model = "se1"
    @Flag(help: "Also pool the detector's bottleneck activations into the descriptor.") var bottleneck = false
    @Option(help: "Folder for STEM.json (and STEM-communities.png); stdout when absent.") var out: String?
    @Flag(help: "Also write STEM-communities.png with the communities colour-coded over the image.") var overlay =
        false

    func validate() throws {
        if let given = pixelSize?.given, !(given > 0.01 && given <= 10_000) {
            throw ValidationError("--pixel-size must be a plausible pixel size in Å (0.01 ... 10000), not \(given)")
        }
        if noPixelSizeCheck && pixelSize == .measured {
            throw ValidationError("--pixel-size auto measures the lattice; it cannot go with --no-pixel-size-check")
        }
        for side in [chip, stride].compactMap({ $0 }) where !(side > 0 && side <= 100_000) {
            throw ValidationError("--chip and --stride must be positive numbers of nm, at most 100000")
        }
        if let given = pixelSize?.given { try checkChip(chip, pixelSize: given) }
        guard (0...4).contains(context) else { throw ValidationError("--context must be 0 ... 4") }
        guard neighbours > 0 else { throw ValidationError("--neighbours must be positive") }
        try SegmentationRun.checkSimilarity(similarity)
        guard minCommunity >= 1 else { throw ValidationError("--min-community must be at least 1") }
        guard ["modularity", "cpm"].contains(quality) else { throw ValidationError("--quality is modularity or cpm") }
        guard resolution >= 0 && resolution.isFinite else { throw ValidationError("--resolution must be ≥ 0") }
        guard ChipFeatureOptions.ChannelCombination(rawValue: combine) != nil else {
            throw ValidationError("--combine is concatenate or average")
        }
        guard !channelNames.isEmpty, Set(channelNames).count == channelNames.count else {
            throw ValidationError("--channels is a comma-separated list of distinct names, e.g. HAADF,MAADF")
        }
    }

    struct Output: Encodable {
        struct Grid: Encodable {
            let originX: Int
            let originY: Int
            let chipSize: Int
            let stride: Int
            let columns: Int
            let rows: Int
            enum CodingKeys: String, CodingKey {
                case originX = "origin_x", originY = "origin_y", chipSize = "chip_size", stride, columns, rows
            }
        }
        struct Community: Encodable {
            let community: Int
            let chips: Int
            let chipsHere: Int
            let meanIntensity: [String: Double]
            let fourierRingLogPower: [String: [Float]]
            let latticeOrder: Float?
            let showsLattice: Bool?
            let part: ChipPart?
            let defectsPerSquareNanometre: Double?
            enum CodingKeys: String, CodingKey {
                case community, chips, chipsHere = "chips_in_this_image", meanIntensity = "mean_intensity"
                case fourierRingLogPower = "fourier_ring_log_power", latticeOrder = "lattice_order"
                case showsLattice = "shows_lattice", part, defectsPerSquareNanometre = "defects_per_nm2"
            }
        }
        let image: String
        let pixelSizeAngstrom: Double
        let grid: Grid
        let communities: [[Int]]
        let summary: [Community]
        enum CodingKeys: String, CodingKey {
            case image, pixelSizeAngstrom = "pixel_size_angstrom", grid, communities, summary
        }
    }

    /// Chips need at least 8 px.
    func checkChip(_ chip: Double?, pixelSize: Double) throws {
        guard let chip else { return }
        guard chip * 10 / pixelSize >= 8 else {
            throw ValidationError(
                "\(self.chip == nil ? "the automatic chip side" : "--chip") \(chip) nm is "
                    + "\(String(format: "%.1f", chip * 10 / pixelSize)) px at this pixel size; chips need at least 8 px"
            )
        }
    }

    func run() throws {
        let (inputs, leads) = try readInputs()
        // Every frame's pixel size: its file's calibration or --pixel-size (checked against each
        // other), or the lattice's measurement for auto; each checked against the frame's lattice.
        var sizes: [Double] = []
        for (input, lead) in zip(inputs, leads) {
            do {
                let resolved = try PixelSizeOption.resolve(
                    pixelSize, for: lead, samplePeriod: latticePeriod, checked: !noPixelSizeCheck)
                sizes.append(resolved.value)
            } catch {
                throw ValidationError("\(input.name): \(error)")
            }
        }
        let sorted = sizes.sorted()
        let pixelSize = sorted[sorted.count / 2]
        if pixelSize != sorted.first || pixelSize != sorted.last,
            let odd = zip(inputs, sizes).first(where: {
                abs($0.1 - pixelSize) > PixelSizeOption.calibrationTolerance * pixelSize
            })
        {
            throw ValidationError(
                "\(odd.0.name) is at \(odd.1) Å/px but the session's median is \(pixelSize) Å/px: the frames of one "
                    + "session share a pixel size; segment them in separate calls")
        }
        try checkChip(chip, pixelSize: pixelSize)
        let run = try settings(detector: model == "none" ? nil : DetectCommand.loadModel(model).0)
        try checkChip(run.chipSide(inputs, pixelSize: pixelSize), pixelSize: pixelSize)
        let session = try run.segment(inputs, pixelSize: pixelSize)
        try report(session, inputs: inputs, pixelSize: pixelSize)
    }

    /// The segmentation these options ask for.
    func settings(detector: DefectDetector?) -> SegmentationRun {
        SegmentationRun(
            chip: chip, stride: stride, context: context, neighbours: neighbours, histogramCutoff: histogramCutoff,
            similarity: similarity, quality: quality, resolution: resolution, seed: seed, combine: combine,
            detector: detector, bottleneck: bottleneck, latticePeriod: noPixelSizeCheck ? nil : latticePeriod,
            minimumCommunity: minCommunity, absolute: absolute)
    }

    /// `--channels` as a list.
    var channelNames: [String] {
        channels.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// The files of the call, each a frame of one or more channels (a series, a frame per page),
    /// and each frame's first channel as read, with its file's calibration. A channel is named by
    /// its place (`--channels`) or by `NAME=` before its file, never by the file's name: a series
    /// of files is one session whatever the files are called.
    private func readInputs() throws -> (
        frames: [(name: String, channels: [(name: String, image: Image)])], leads: [ImageInput]
    ) {
        var inputs: [(name: String, channels: [(name: String, image: Image)])] = []
        var leads: [ImageInput] = []
        let names = channelNames
        for file in files {
            // Each channel's frames: one, or a series.
            var parts: [(name: String, frames: [ImageInput])] = []
            for (index, part) in file.split(separator: "+").map(String.init).enumerated() {
                var path = part
                var name = index < names.count ? names[index] : "channel\(index + 1)"
                if let equals = part.firstIndex(of: "="), !part[..<equals].contains("/"), !part[..<equals].isEmpty {
                    name = String(part[..<equals])
                    path = String(part[part.index(after: equals)...])
                }
                do {
                    parts.append((name, try ImageInput.read(path)))
                } catch {
                    throw ValidationError(error is ImageFileError ? "\(error)" : "\(path): \(error)")
                }
            }
            let count = parts[0].frames.count
            guard parts.allSatisfy({ $0.frames.count == count }) else {
                throw ValidationError(
                    "\(file): the channels hold \(parts.map { String($0.frames.count) }.joined(separator: ", ")) frames; "
                        + "the channels of a series need one frame each per scan")
            }
            for k in 0..<count {
                let frame = parts.map { (name: $0.name, image: $0.frames[k].image) }
                let name = count > 1 ? "\(file)[\(k + 1)]" : file
                if let first = inputs.first, first.channels.map(\.name) != frame.map(\.name) {
                    throw ValidationError(
                        "\(file) has the channels \(frame.map(\.name).joined(separator: "+")) but \(first.name) has "
                            + "\(first.channels.map(\.name).joined(separator: "+")): every frame of a session needs the "
                            + "same channels, in the same order")
                }
                inputs.append((name, frame))
                leads.append(parts[0].frames[k])
            }
        }
        return (inputs, leads)
    }

    private func report(
        _ session: SegmentationSession, inputs: [(name: String, channels: [(name: String, image: Image)])],
        pixelSize: Double
    ) throws {
        guard let layout = session.featureLayout else { throw ValidationError("no frame was segmented") }
        let means = session.meanDescriptors()
        let orderMedians = session.latticeOrderMedians()
        let parts = session.communityParts()
        let knowsLattice = session.frames.contains { $0.latticeOrder != nil }
        var totals: [Int: Int] = [:]
        var defects: [Int: Int] = [:]
        var area: [Int: Double] = [:]
        // Mean pixel value per channel over each community's chips, session-wide.
        var intensitySums: [Int: [String: Double]] = [:]
        for (frame, input) in zip(session.frames, inputs) {
            let chipArea = pow(Double(frame.grid.chipSize) * frame.pixelSize / 10, 2)
            for (chip, community) in frame.communities.enumerated() {
                totals[community, default: 0] += 1
                if let counts = frame.defects {
                    defects[community, default: 0] += counts[chip]
                    area[community, default: 0] += chipArea
                }
                let (x, y) = frame.grid.origin(of: chip)
                for channel in input.channels {
                    let size = frame.grid.chipSize
                    if let mean = channel.image.statistics(x: x, y: y, width: size, height: size)?.mean {
                        intensitySums[community, default: [:]][channel.name, default: 0] += mean
                    }
                }
            }
        }
        let folder = out.map { URL(fileURLWithPath: $0, isDirectory: true) }
        if let folder { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        let stems = Self.stems(inputs.map(\.name))
        for ((frame, input), stem) in zip(zip(session.frames, inputs), stems) {
            let summary = totals.keys.sorted().map { community -> Output.Community in
                let count = Double(max(totals[community] ?? 1, 1))
                var radial: [String: [Float]] = [:]
                var column = 0
                for block in layout.blocks {
                    let values = means[community].map { Array($0[column..<(column + block.width)]) } ?? []
                    if block.name == "fourier", !values.isEmpty {
                        radial[block.channel] = Array(values.prefix(ChipFeatures.fourierRingCount))
                    }
                    column += block.width
                }
                let order = orderMedians[community]
                return .init(
                    community: community, chips: totals[community] ?? 0,
                    chipsHere: frame.communities.filter { $0 == community }.count,
                    meanIntensity: (intensitySums[community] ?? [:]).mapValues { $0 / count },
                    fourierRingLogPower: radial, latticeOrder: order,
                    showsLattice: knowsLattice ? (order ?? 0) > SegmentationSession.latticeOrderThreshold : nil,
                    part: parts[community],
                    defectsPerSquareNanometre: area[community].map { Double(defects[community] ?? 0) / $0 })
            }
            let grid = frame.grid
            let output = Output(
                image: input.name, pixelSizeAngstrom: pixelSize,
                grid: .init(
                    originX: grid.originX, originY: grid.originY, chipSize: grid.chipSize, stride: grid.stride,
                    columns: grid.columns, rows: grid.rows),
                communities: (0..<grid.rows).map {
                    Array(frame.communities[($0 * grid.columns)..<(($0 + 1) * grid.columns)])
                },
                summary: summary)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let json = try encoder.encode(output)
            let url = URL(fileURLWithPath: input.name.split(separator: "+").first.map(String.init) ?? input.name)
            if let folder {
                try json.write(to: folder.appendingPathComponent("\(stem).json"))
            } else {
                FileHandle.standardOutput.write(json + Data("\n".utf8))
            }
            if overlay {
                let target = (folder ?? url.deletingLastPathComponent()).appendingPathComponent(
                    "\(stem)-communities.png")
                try Self.writeOverlay(input.channels[0].image, frame, pixelSize: pixelSize, to: target)
            }
        }
    }

    /// Output names: each input's first file without its extension (and without a `NAME=` channel label), with its folder's name in front
    /// when two inputs would share a name (frames/a/HAADF.npy and frames/b/HAADF.npy give a-HAADF
    /// and b-HAADF), and a number after that if they still do.
    static func stems(_ names: [String]) -> [String] {
        // Frame K of a series is named FILE[K] and gets -frameK.
        var frames: [String] = []
        let urls = names.map { name -> URL in
            var first = name.split(separator: "+").first.map(String.init) ?? name
            // HAADF=a.npy names the channel, not the output.
            if let equals = first.firstIndex(of: "="), !first[..<equals].contains("/") {
                first = String(first[first.index(after: equals)...])
            }
            var suffix = ""
            if name.hasSuffix("]"), let open = name.lastIndex(of: "["),
                let k = Int(name[name.index(after: open)...].dropLast())
            {
                suffix = "-frame\(k)"
                if !name.contains("+") { first = String(name[..<open]) }
            }
            frames.append(suffix)
            return URL(fileURLWithPath: first)
        }
        var stems = zip(urls, frames).map { $0.deletingPathExtension().lastPathComponent + $1 }
        if Set(stems).count < stems.count {
            stems = zip(urls, frames).map {
                $0.deletingLastPathComponent().lastPathComponent + "-" + $0.deletingPathExtension().lastPathComponent
                    + $1
            }
        }
        if Set(stems).count < stems.count { stems = stems.enumerated().map { "\($1)-\($0 + 1)" } }
        return stems
    }

    /// Distinct colours for community ids (cycled beyond twelve).
    static let palette: [[UInt8]] = [
        [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180],
        [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212], [0, 128, 128], [170, 110, 40],
    ]

    /// The image in gray with each chip tinted by its community's colour and outlined, a legend of
    /// the communities in the frame and a scale bar.
    static func writeOverlay(_ image: Image, _ frame: FrameSegmentation, pixelSize: Double, to url: URL) throws {
        var canvas = OverlayCanvas(image)
        let grid = frame.grid
        for chip in 0..<grid.count {
            let colour = palette[frame.communities[chip] % palette.count]
            let (x0, y0) = grid.origin(of: chip)
            for y in y0..<min(image.height, y0 + grid.chipSize) {
                for x in x0..<min(image.width, x0 + grid.chipSize) {
                    canvas.blend(x, y, colour, weight: x == x0 || y == y0 ? 1 : 0.45)
                }
            }
        }
        let present = Set(frame.communities).sorted()
        canvas.legend(present.prefix(12).map { ("#\($0)", palette[$0 % palette.count]) })
        canvas.scaleBar(pixelSize: pixelSize)
        try canvas.write(to: url)
    }
}
