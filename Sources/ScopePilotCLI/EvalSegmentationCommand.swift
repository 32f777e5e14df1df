import ArgumentParser
import DefectDetection
import Foundation
import ImageNumerics
import LabelledSets
import Segmentation
import SegmentationEvaluation
import Simulator

/// `scopepilot eval-segmentation`: chip communities against the virtual microscope's ground-truth
/// regions.
struct EvalSegmentationCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-segmentation",
        abstract: "Score chip communities against ground-truth regions on the virtual microscope.",
        discussion: """
            The mixed-region session renders frames of the standard sample inside its vacancy-rich, \
            damaged and contaminated zones, in pristine lattice and across a hole's edge (HAADF and \
            MAADF, 1024 x 1024 at 0.25 Å/px by default). Every chip's label is its majority region; \
            the adjusted Rand index and normalised mutual information compare communities with \
            labels over the whole session. Rows: ScopePilot's defaults, without the detector, and \
            the published method (no context, similarity cutoff at the histogram's mode). The \
            low-dose scenario repeats it at a quarter of the dwell.

            With --set DIR it scores a folder of labelled images instead (region maps in the format \
            of docs/LABELLED_SETS.md, e.g. Tests/Fixtures/abtem/segmentation): each dose's frames at \
            one pixel size are one session, segmented as 'scopepilot segment' does with the same \
            settings; ARI and NMI over all region kinds and with the set's lattice-like kinds merged, \
            beside k-means on three statistics per chip and channel told the true number of regions.
            """)

    @Option(help: "A folder of labelled images to score on instead of the virtual microscope.") var set: String?
    @Option(help: "Chip side, nm (default: a sixteenth of the frames' shorter side, 1.2 to 1.6 nm).")
    var chip: Double?
    @Option(help: "Frame side, pixels.") var pixels = 1024
    @Option(help: "Pixel size, Å.") var pixelSize = 0.25
    @Option(help: "Dwell, µs (the low-dose scenario uses a quarter).") var dwell = 20.0
    @Option(help: "Detector (se1, all, a path or none).") var model = "se1"
    @Option(help: "Sample seed.") var seed: UInt64 = 1
    @Flag(help: "Only the standard scenario (skip the low-dose one).") var standardOnly = false
    @Flag(help: "Also print, for each row, how many chips of each region fell in each community.") var confusion =
        false
    @Option(help: "ScopePilot row: chips of context on each side.") var context = 2
    @Option(help: "ScopePilot row: nearest neighbours per chip.") var neighbours = 20
    @Option(help: "ScopePilot row: chips compared by distance or cosine.") var similarity = "distance"
    @Option(help: "ScopePilot row: modularity resolution.") var resolution = 0.3

    func validate() throws {
        guard (256...2048).contains(pixels) else { throw ValidationError("--pixels must be 256 ... 2048") }
        guard pixelSize > 0.05 && pixelSize <= 0.5 else {
            throw ValidationError("--pixel-size must be 0.05 ... 0.5 Å (atomic resolution)")
        }
        guard dwell > 0 && dwell <= 1000 else { throw ValidationError("--dwell must be 0 ... 1000 µs") }
        try SegmentationRun.checkSimilarity(similarity)
        if let chip, !(chip > 0 && chip <= 100_000) {
            throw ValidationError("--chip must be a positive number of nm, at most 100000")
        }
    }

    func run() throws {
        if let set {
            try scoreSet(URL(fileURLWithPath: set), detector: model == "none" ? nil : DetectCommand.loadModel(model).0)
            return
        }
        // With --model none the defaults row runs without the detector's densities too.
        let detector = model == "none" ? nil : try DetectCommand.loadModel(model).0
        let side = self.chip ?? SegmentationOptions.automaticChipSide(frameSide: Double(pixels) * pixelSize / 10)
        let chip = Int((side * 10 / pixelSize).rounded())
        print("chips of \(chip) px (\(side) nm); matching by adjusted Rand index (ARI) and NMI over all chips\n")
        print(pad("scenario", 24) + pad("method", 28) + "   ARI     NMI   communities  regions")
        var standardARI = 0.0
        let scenarios = [("mixed regions", dwell), ("mixed regions, low dose", dwell / 4)]
        for (scenario, scenarioDwell) in scenarios.prefix(standardOnly ? 1 : 2) {
            let session = MixedRegionSession(pixels: pixels, pixelSize: pixelSize, dwell: scenarioDwell, seed: seed)
            var methods: [(String, SegmentationOptions, DetectorEmbedder?)] = []
            var defaults = SegmentationOptions()
            defaults.chipSize = chip
            defaults.stride = chip
            defaults.repartitionEvery = Int.max
            defaults.features.context = context
            defaults.graph = SegmentationRun.graph(similarity: similarity, neighbours: neighbours)
            defaults.quality = .modularity(resolution: resolution)
            defaults.reservoirCapacity = 1_000_000
            defaults.features.latticePeriod = LatticePeriod.wse2
            defaults.features.embedding = detector != nil
            methods.append(
                (
                    detector == nil ? "ScopePilot, no detector" : "ScopePilot defaults", defaults,
                    detector.map { DetectorEmbedder($0, parts: [.defectDensity]) }
                ))
            var noDetector = SegmentationOptions()
            noDetector.chipSize = chip
            noDetector.stride = chip
            noDetector.repartitionEvery = Int.max
            noDetector.reservoirCapacity = 1_000_000
            noDetector.features.embedding = false
            methods.append(("without the detector", noDetector, nil))
            var published = noDetector
            published.features.context = 0
            published.graph = .histogramModeCutoff(limit: 50)
            published.quality = .modularity(resolution: 1)
            methods.append(("published (mode cutoff)", published, nil))
            for (index, (name, options, embedder)) in methods.enumerated() {
                let segmentation = SegmentationSession(options: options, embedder: embedder)
                var truth: [Int] = []
                var found: [Int] = []
                for frame in session.frames {
                    // Detections per chip as `scopepilot segment` gives them.
                    let counts = frame.channels.first.flatMap { first in
                        embedder?.defectCounts(
                            of: first.image, pixelSize: frame.pixelSize,
                            grid: ChipGrid(
                                width: first.image.width, height: first.image.height, chipSize: options.chipSize,
                                stride: options.stride))
                    }
                    let result = try segmentation.add(
                        channels: frame.channels, pixelSize: frame.pixelSize, defectsPerChip: counts)
                    truth += session.chipRegions(result.frame, grid: result.grid)
                }
                segmentation.repartition()
                for frame in segmentation.frames { found += frame.communities }
                let ari = ClusteringAgreement.adjustedRandIndex(truth, found)
                let nmi = ClusteringAgreement.normalisedMutualInformation(truth, found)
                if scenario == "mixed regions" && index == 0 { standardARI = ari }
                print(
                    pad(scenario, 24) + pad(name, 28)
                        + String(format: "%6.3f  %6.3f  %6d       %d", ari, nmi, Set(found).count, Set(truth).count))
                if confusion {
                    var table: [Int: [Int: Int]] = [:]
                    for (region, community) in zip(truth, found) {
                        table[region, default: [:]][community, default: 0] += 1
                    }
                    for region in table.keys.sorted() {
                        let name = RegionKind(rawValue: region)?.description ?? "\(region)"
                        let cells = (table[region] ?? [:]).sorted { $0.key < $1.key }.map {
                            "community \($0.key): \($0.value)"
                        }
                        print("    " + pad(name, 14) + cells.joined(separator: ", "))
                    }
                }
            }
        }
        print(
            String(
                format: "\ntarget: ARI ≥ 0.8 on the standard mixed-region session: %.3f (%@)", standardARI,
                (standardARI >= 0.8 ? "met" : "NOT met") as NSString))
    }

    /// Communities on a labelled set against its region maps, per dose and pixel size, beside
    /// the k-means baseline, and the targets.
    private func scoreSet(_ folder: URL, detector: DefectDetector?) throws {
        let labelled: LabelledSet
        do { labelled = try LabelledSet.load(folder) } catch { throw ValidationError("\(error)") }
        let frames = labelled.frames.filter { $0.regionFile != nil }
        guard !frames.isEmpty else {
            throw ValidationError("\(folder.path): no frame of the set has a region map (\"regions\": FILE)")
        }
        let merged = Set(labelled.latticeLike.compactMap { labelled.regions.firstIndex(of: $0) })
        print("set \(folder.path): \(frames.count) frames with region maps")
        if !labelled.description.isEmpty { print("  " + labelled.description) }
        print(
            "regions: \(labelled.regions.joined(separator: ", ")); merged: \(labelled.latticeLike.joined(separator: ", "))"
        )
        print(
            "chips of "
                + (chip.map { "\($0) nm" } ?? "a sixteenth of the frames' shorter side, 1.2 to 1.6 nm")
                + "; ARI and NMI over every chip of a session (one dose, one pixel size)\n")
        print(
            "dose e/Å²  Å/px   frames chips regions │ ScopePilot  ARI    NMI   merged ARI  communities │ k-means ARI  merged ARI"
        )
        let run = SegmentationRun(
            chip: chip, context: context, neighbours: neighbours, similarity: similarity, resolution: resolution,
            seed: seed, detector: detector
        )
        var allMet = true
        var rows = 0
        var mergedMet = 0
        var allKindsMet = 0
        var sides = Set<Double>()
        for (dose, group) in labelled.doseGroups {
            let bySize = Dictionary(grouping: group.filter { $0.regionFile != nil }) { $0.pixelSize }
            for pixelSize in bySize.keys.sorted() {
                let session = bySize[pixelSize] ?? []
                var inputs: [(name: String, channels: [(name: String, image: Image)])] = []
                do {
                    for frame in session {
                        let ordered =
                            [frame.detectorChannel] + frame.channels.filter { $0.name != frame.detectorChannel.name }
                        inputs.append((frame.name, try ordered.map { ($0.name, try frame.image($0)) }))
                    }
                } catch { throw ValidationError("\(error)") }
                let side = run.chipSide(inputs, pixelSize: pixelSize)
                guard side * 10 / pixelSize >= 8 else {
                    throw ValidationError("chips of \(side) nm are under 8 px at \(pixelSize) Å/px")
                }
                sides.insert(side)
                let segmentation = try run.segment(inputs, pixelSize: pixelSize)
                var truth: [Int] = []
                var found: [Int] = []
                var statistics: [[Double]] = []
                var orders: [Float] = []
                for ((frame, input), result) in zip(zip(session, inputs), segmentation.frames) {
                    let first = input.channels[0].image
                    let map: [Int]?
                    do {
                        map = try frame.regionMap(
                            width: first.width, height: first.height, regions: labelled.regions.count)
                    } catch { throw ValidationError("\(error)") }
                    guard let map else { continue }
                    truth += ChipLabels.majority(map, width: first.width, grid: result.grid)
                    found += result.communities
                    orders += result.latticeOrder ?? []
                    statistics += ChipStatisticsKMeans.statistics(input.channels.map(\.image), grid: result.grid)
                }
                let truthMerged = ChipLabels.merging(truth, merged)
                let ari = ClusteringAgreement.adjustedRandIndex(truth, found)
                let nmi = ClusteringAgreement.normalisedMutualInformation(truth, found)
                // ScopePilot's own coarse level: its communities that show a lattice, as one.
                let lattice = segmentation.latticeCommunities()
                let foundMerged = found.map { lattice.contains($0) ? -1 : $0 }
                let mergedARI = ClusteringAgreement.adjustedRandIndex(truthMerged, foundMerged)
                let kmeans = ChipStatisticsKMeans.cluster(statistics, k: Set(truth).count, seed: seed)
                let kmeansMerged = ChipStatisticsKMeans.cluster(statistics, k: Set(truthMerged).count, seed: seed)
                let baseline = ClusteringAgreement.adjustedRandIndex(truth, kmeans)
                let baselineMerged = ClusteringAgreement.adjustedRandIndex(truthMerged, kmeansMerged)
                let allKinds = ari >= 0.6 && ari > baseline
                let coarse = mergedARI >= 0.8 && mergedARI > baselineMerged
                allMet = allMet && allKinds && coarse
                if allKinds { allKindsMet += 1 }
                if coarse { mergedMet += 1 }
                rows += 1
                print(
                    (dose.map { String(format: "%9.0f", $0) } ?? "  unknown")
                        + String(
                            format:
                                "  %.3f  %6d %5d %7d │            %6.3f %6.3f   %6.3f    %6d      │     %6.3f      %6.3f",
                            pixelSize, session.count, truth.count, Set(truth).count, ari, nmi, mergedARI,
                            Set(found).count, baseline, baselineMerged))
                if confusion {
                    print(
                        "    communities showing a lattice: \(lattice.sorted().map(String.init).joined(separator: ", "))"
                    )
                    let parts = segmentation.communityParts()
                    print(
                        "    parts: "
                            + parts.keys.sorted().map { "\($0) \(parts[$0]?.rawValue ?? "-")" }.joined(separator: ", "))
                    var table: [Int: [Int: Int]] = [:]
                    for (region, community) in zip(truth, found) {
                        table[region, default: [:]][community, default: 0] += 1
                    }
                    for region in table.keys.sorted() {
                        let cells = (table[region] ?? [:]).sorted { $0.key < $1.key }.map {
                            "community \($0.key): \($0.value)"
                        }
                        let order = zip(truth, orders).filter { $0.0 == region }.map(\.1).sorted()
                        let quantiles =
                            order.isEmpty
                            ? ""
                            : "; lattice order 10/50/90 %: "
                                + [0.1, 0.5, 0.9].map {
                                    String(format: "%.2f", order[min(order.count - 1, Int($0 * Double(order.count)))])
                                }.joined(separator: "/")
                        print("    " + pad(labelled.regions[region], 14) + cells.joined(separator: ", ") + quantiles)
                    }
                }
            }
        }
        print("\nchips of \(sides.sorted().map { "\($0) nm" }.joined(separator: ", "))")
        print(
            "targets in every row: ARI ≥ 0.6, merged ARI ≥ 0.8, both above k-means: \(allMet ? "met" : "NOT met") (\(rows) rows)"
        )
        print(
            "  merged ARI ≥ 0.8 and above k-means in \(mergedMet) of \(rows) rows; ARI ≥ 0.6 and above k-means in "
                + "\(allKindsMet) of \(rows)")
    }

    private func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }
}
