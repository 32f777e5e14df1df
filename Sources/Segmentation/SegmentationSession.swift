import COpenBLAS
import Foundation
public import ImageNumerics

/// How a session cuts, describes, links and groups chips.
public struct SegmentationOptions: Sendable, Hashable, Codable {
    /// Chip side, pixels.
    public var chipSize = 64
    /// Distance between chips, pixels (the chip size for a tiling).
    public var stride = 64
    /// Descriptors and channel combination.
    public var features = ChipFeatureOptions()
    /// Graph construction (distances: descriptors relative to their frame put the usual area
    /// near the origin, where cosine similarity means nothing).
    public var graph: GraphConstruction = .gaussianNeighbours(20)
    /// Community quality function and resolution (0.3: at 1, modularity splits large uniform
    /// areas into several communities, as it finds structure in any large random graph).
    public var quality: CommunityQuality = .modularity(resolution: 0.3)
    /// Seed of the community detection and the reservoir's choices.
    public var seed: UInt64 = 1
    /// Chips kept for re-partitioning; the memory bound of a long session.
    public var reservoirCapacity = 8192
    /// Frames between re-partitions (the first frame is always partitioned).
    public var repartitionEvery = 4
    /// Reservoir chips that vote on a new chip's community.
    public var assignmentNeighbours = 10
    /// Communities of fewer reservoir chips are merged into the community they are most strongly
    /// linked to: a community of one or two chips is noise, not a kind of area (1: keep all).
    public var minimumCommunity = 3
    /// When the session knows the lattice (``ChipFeatureOptions/latticePeriod``), chips that show
    /// it and chips that do not are never linked or voted together: communities are found among
    /// lattice chips (pristine, vacancy-rich, contaminated) and among the rest (amorphous film,
    /// holes, vacuum) separately, so that no community mixes the two.
    public var separatesLattice = true
    /// When the detector's counts are given and the lattice chips' counts are a mixture of two
    /// kinds (``DefectRichSplit``), defect-rich lattice chips and the other lattice chips are
    /// never linked or voted together either.
    public var separatesDefectRich = true
    /// When the session knows the lattice and the chips without it are two kinds by their signal
    /// (``TwoKindSplit``: vacuum gives next to none, amorphous film about as much as the lattice),
    /// vacuum and film are never linked or voted together.
    public var separatesVacuum = true
    /// When a frame has a second channel and the lattice chips (other than the defect-rich) are
    /// two kinds by the ratio of the second channel's signal to the first's (``TwoKindSplit``:
    /// carbon on the lattice raises the ratio, see ``ChipFeatures/channelRatio``; each frame's
    /// ratios are taken relative to its clean lattice), covered and clean lattice are never linked
    /// or voted together.
    public var separatesCovered = true

    /// The chip side, nm, the defaults choose for frames whose shorter side is `frameSide` nm: a
    /// sixteenth of it, between 1.2 nm (about four {100} periods of WSe2, the least that shows a
    /// lattice's order) and 1.6 nm (what 25 nm frames of mixed areas segment best with). A 7 nm
    /// frame gets 1.2 nm chips (a 5 x 5 grid), a 25 nm one 1.6 nm (16 x 16).
    public static func automaticChipSide(frameSide: Double) -> Double {
        min(maximumAutomaticChip, max(minimumAutomaticChip, frameSide / 16))
    }
    /// Smallest and largest chip side ``automaticChipSide(frameSide:)`` gives, nm.
    public static let minimumAutomaticChip = 1.2
    public static let maximumAutomaticChip = 1.6

    /// The defaults: 64-pixel tiles described with their 5 x 5 neighbourhood (capped by the
    /// frame's extent), 20 nearest neighbours by distance, modularity at resolution 0.3 (the best of the settings tried on the mixed-region
    /// evaluation; 15 to 30 neighbours and resolutions 0.2 to 0.3 score within 0.02 of it).
    public init() { features.context = 2 }
}

/// One frame's chips and their communities.
public struct FrameSegmentation: Sendable {
    /// Position of the frame in the session, from 0.
    public let frame: Int
    /// The chip grid.
    public let grid: ChipGrid
    /// Pixel size, Å.
    public let pixelSize: Double
    /// Community id of every chip, row-major.
    public internal(set) var communities: [Int]
    /// Defects the detector found in each chip, if it ran.
    public let defects: [Int]?
    /// Six-fold lattice order of each chip (see `ChipFeatures.latticeOrder`), when the session
    /// knows the sample's lattice period.
    public let latticeOrder: [Float]?
}

/// A bad frame for segmentation, with what to do about it.
public struct SegmentationError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure it was.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Kind: String, Sendable, Hashable {
            case channels, nonFinite = "non_finite", pixelSize = "pixel_size", grid
        }
        private let kind: Kind

        /// The frame has no channels, or channels of different sizes.
        public static let channels = Code(kind: .channels)
        /// A channel holds NaN or infinite pixels.
        public static let nonFinite = Code(kind: .nonFinite)
        /// The pixel size is not a positive number.
        public static let pixelSize = Code(kind: .pixelSize)
        /// The frame is too small for a chip, or the defect counts do not fit the chips.
        public static let grid = Code(kind: .grid)

        public var description: String { kind.rawValue }
    }

    /// What kind of failure.
    public let code: Code

    /// What is wrong.
    public let description: String
}

/// Chip communities across a whole session: the same kind of area keeps the same community id in
/// frames far apart.
///
/// Each new frame's chips are first assigned to existing communities by a similarity-weighted
/// vote of their nearest reservoir chips. Every few frames the reservoir is re-partitioned with
/// Leiden, starting from the current communities, and the new communities are matched to the old
/// ids by overlap (greedily, largest overlap first); a community with no old counterpart gets a
/// fresh id. Memory is bounded by the reservoir: at most `reservoirCapacity` chips keep their
/// descriptors, and when it is full the community with the most chips gives one up (chosen at
/// random), so rare kinds of area keep their prototypes however long the session runs. Chips that
/// have left the reservoir keep the id they had.
public final class SegmentationSession {
    /// The options.
    public let options: SegmentationOptions
    private let extractor: ChipFeatureExtractor
    private var layout: FeatureLayout?
    private var normalisation: FeatureMatrix.Normalisation?
    private var reservoirRaw: [Float] = []
    private var reservoirNormalised: [Float] = []
    private var reservoirOwner: [(frame: Int, chip: Int)] = []
    private var reservoirCommunity: [Int] = []
    /// Whether each reservoir chip shows the lattice; nil when the session does not know it.
    private var reservoirLattice: [Bool?] = []
    /// Defects the detector found in each reservoir chip; nil where it did not run.
    private var reservoirDefects: [Int?] = []
    /// Lattice chips with at least this many defects are defect-rich (see
    /// ``DefectRichSplit``); nil until the session's counts show two kinds of lattice.
    private var defectRichThreshold: Int?
    /// Each reservoir chip's signal and channel ratio (see ``ChipFeatures``); nil where unknown.
    private var reservoirSignal: [Float?] = []
    private var reservoirRatio: [Float?] = []
    /// The part of the session each reservoir chip is in (nil when the session does not know the
    /// lattice), as of the last re-partition or, for chips added since, as they were added.
    private var reservoirPart: [ChipPart?] = []
    /// Chips without the lattice whose signal is below it are vacuum; nil until the session's
    /// signals show two kinds.
    private var vacuumThreshold: Float?
    /// Lattice chips whose channel ratio is at or above it are covered; nil until the session's
    /// ratios show two kinds.
    private var coveredThreshold: Float?
    private var framesSinceRepartition = 0
    private var nextCommunity = 0
    private var random: SplitMix64
    /// Every frame so far, with its chips' current communities.
    public private(set) var frames: [FrameSegmentation] = []
    /// Re-partitions so far.
    public private(set) var repartitions = 0

    /// A session; `embedder` adds learned embeddings to the descriptors.
    public init(options: SegmentationOptions = SegmentationOptions(), embedder: (any ChipEmbedder)? = nil) {
        self.options = options
        extractor = ChipFeatureExtractor(options: options.features, embedder: embedder)
        random = SplitMix64(seed: options.seed ^ 0x5EED)
    }

    /// Chips held in the reservoir.
    public var reservoirCount: Int { reservoirOwner.count }

    /// Adds a frame (one image per channel, all the same size) and returns its chips' communities.
    @discardableResult
    public func add(
        channels: [(name: String, image: Image)], pixelSize: Double, defectsPerChip: [Int]? = nil
    ) throws(SegmentationError) -> FrameSegmentation {
        guard let first = channels.first?.image else {
            throw SegmentationError(code: .channels, description: "the frame has no channels")
        }
        for (name, image) in channels {
            guard image.width == first.width && image.height == first.height else {
                throw SegmentationError(
                    code: .channels,
                    description:
                        "channel \(name) is \(image.width) x \(image.height), the others \(first.width) x \(first.height)"
                )
            }
            guard image.pixels.allSatisfy(\.isFinite) else {
                throw SegmentationError(code: .nonFinite, description: "channel \(name) holds NaN or infinite pixels")
            }
        }
        guard pixelSize > 0 && pixelSize.isFinite else {
            throw SegmentationError(
                code: .pixelSize, description: "pixel size must be a positive number of Å, not \(pixelSize)")
        }
        let grid = ChipGrid(
            width: first.width, height: first.height, chipSize: options.chipSize, stride: options.stride)
        guard grid.count > 0 else {
            throw SegmentationError(
                code: .grid,
                description:
                    "the frame (\(first.width) x \(first.height)) is smaller than one chip (\(options.chipSize) px)")
        }
        if let defectsPerChip, defectsPerChip.count != grid.count {
            throw SegmentationError(
                code: .grid, description: "\(defectsPerChip.count) defect counts for \(grid.count) chips")
        }
        let features = extractor.features(of: channels, pixelSize: pixelSize, grid: grid)
        if let layout, layout != features.layout {
            throw SegmentationError(
                code: .grid,
                description:
                    "this frame's channels (\(channels.map(\.name).joined(separator: ", "))) differ from the session's (\(Set(layout.blocks.map(\.channel)).sorted().joined(separator: ", ")))"
            )
        }
        layout = features.layout
        let raw = features.rawRows
        let index = frames.count
        let signal: [Float?] = features.signal ?? Array(repeating: nil, count: grid.count)
        let ratio: [Float?] = features.channelRatio ?? Array(repeating: nil, count: grid.count)
        let lattice: [Bool?] =
            options.separatesLattice
            ? (features.latticeOrder?.map { $0 > Self.latticeOrderThreshold }
                ?? Array(repeating: nil, count: grid.count))
            : Array(repeating: nil, count: grid.count)
        var communities = [Int](repeating: -1, count: grid.count)
        if let normalisation {
            var matrix = FeatureMatrix(raw: raw, normalisation: normalisation)
            let sides = parts(
                lattice: lattice, defects: defectsPerChip.map { $0.map { Optional($0) } },
                signal: signal, ratio: ratio, frame: Array(repeating: index, count: grid.count))
            settingAsideDensities(in: &matrix, sides: sides)
            communities = assign(matrix, sides: sides)
            for chip in 0..<grid.count {
                append(
                    raw: raw[(chip * matrix.columns)..<((chip + 1) * matrix.columns)],
                    normalised: matrix.row(chip), owner: (index, chip), lattice: lattice[chip],
                    defects: defectsPerChip?[chip], signal: signal[chip], ratio: ratio[chip], part: sides[chip],
                    community: communities[chip])
            }
        } else {
            let width = features.layout.width
            for chip in 0..<grid.count {
                append(
                    raw: raw[(chip * width)..<((chip + 1) * width)], normalised: [], owner: (index, chip),
                    lattice: lattice[chip], defects: defectsPerChip?[chip], signal: signal[chip], ratio: ratio[chip],
                    part: nil, community: -1)
            }
        }
        frames.append(
            FrameSegmentation(
                frame: index, grid: grid, pixelSize: pixelSize, communities: communities, defects: defectsPerChip,
                latticeOrder: features.latticeOrder))
        framesSinceRepartition += 1
        if normalisation == nil || framesSinceRepartition >= options.repartitionEvery { repartition() }
        return frames[index]
    }

    /// Re-partitions the reservoir now: refits the normalisation, rebuilds the graph, runs Leiden
    /// from the current communities and matches the result to the old ids.
    public func repartition() {
        guard let layout, !reservoirOwner.isEmpty else { return }
        var fitted = FeatureMatrix.Normalisation(
            fitting: reservoirRaw, layout: layout, perChannel: options.features.channels == .averageSimilarity,
            weights: options.features.weights)
        // Distances need the rows as they are, not on the unit sphere.
        if options.graph.usesDistance { fitted.parts = [] }
        normalisation = fitted
        if options.separatesDefectRich {
            let counts = zip(reservoirLattice, reservoirDefects).compactMap { $0 == true ? $1 : nil }
            defectRichThreshold = DefectRichSplit(counts: counts)?.threshold
        }
        if options.separatesVacuum {
            let signals = zip(reservoirLattice, reservoirSignal).compactMap { shows, signal in
                shows == false ? signal.map { Double(max($0, Self.vacuumSignalFloor)) } : nil
            }
            vacuumThreshold = TwoKindSplit(values: signals, minimumDifference: Self.vacuumSignalDifference)
                .map { Float($0.threshold) }
        }
        let frameOfChip = reservoirOwner.map(\.frame)
        if options.separatesCovered {
            coveredThreshold = nil
            let clean = parts(
                lattice: reservoirLattice, defects: reservoirDefects, signal: reservoirSignal, ratio: reservoirRatio,
                frame: frameOfChip)
            let centred = Self.centredRatios(reservoirRatio, parts: clean, frame: frameOfChip)
            let ratios = clean.indices.compactMap { clean[$0] == .lattice ? centred[$0].map(Double.init) : nil }
            coveredThreshold = TwoKindSplit(
                values: ratios, minimumDifference: Self.coveredRatioDifference,
                minimumSeparation: Self.coveredRatioSeparation
            ).map { Float($0.threshold) }
        }
        // Which part of the session each chip is in: the lattice split, then the others.
        reservoirPart = parts(
            lattice: reservoirLattice, defects: reservoirDefects, signal: reservoirSignal, ratio: reservoirRatio,
            frame: frameOfChip)
        let sides = reservoirPart
        var matrix = FeatureMatrix(raw: reservoirRaw, normalisation: fitted)
        settingAsideDensities(in: &matrix, sides: sides)
        reservoirNormalised = matrix.values
        let owners = reservoirOwner
        let columns = frames.map(\.grid.columns)
        let reaches = frames.map { options.features.reach(for: $0.grid) }
        let sharesContext = !reaches.allSatisfy { $0 == 0 }
        let separates = sides.contains { $0 != nil }
        let graph = SimilarityGraph.build(
            matrix, construction: options.graph,
            unlinked: !sharesContext && !separates
                ? nil
                : { i, j in
                    if separates, let a = sides[i], let b = sides[j], a != b { return true }
                    guard sharesContext else { return false }
                    let a = owners[i]
                    let b = owners[j]
                    guard a.frame == b.frame else { return false }
                    let w = columns[a.frame]
                    let reach = reaches[a.frame]
                    return abs(a.chip / w - b.chip / w) <= reach && abs(a.chip % w - b.chip % w) <= reach
                })
        let leiden = Leiden(quality: options.quality, seed: options.seed &+ UInt64(repartitions))
        let known = !reservoirCommunity.contains(-1)
        var membership = leiden.communities(of: graph, initial: known ? reservoirCommunity : nil)
        membership = Self.mergingSmall(membership, graph: graph, minimum: options.minimumCommunity)
        reservoirCommunity = match(membership, to: reservoirCommunity)
        for (slot, owner) in reservoirOwner.enumerated() {
            frames[owner.frame].communities[owner.chip] = reservoirCommunity[slot]
        }
        framesSinceRepartition = 0
        repartitions += 1
    }

    /// Mean raw descriptor of each community over its reservoir chips, with the layout's block
    /// names (for reports).
    public func meanDescriptors() -> [Int: [Float]] {
        guard let layout else { return [:] }
        let width = layout.width
        var sums: [Int: [Float]] = [:]
        var counts: [Int: Int] = [:]
        for (slot, community) in reservoirCommunity.enumerated() {
            var sum = sums[community] ?? [Float](repeating: 0, count: width)
            for k in 0..<width { sum[k] += reservoirRaw[slot * width + k] }
            sums[community] = sum
            counts[community, default: 0] += 1
        }
        return sums.mapValues { $0 }.reduce(into: [:]) { result, entry in
            let count = Float(max(counts[entry.key] ?? 1, 1))
            result[entry.key] = entry.value.map { $0 / count }
        }
    }

    /// Lattice order above which a chip or a community shows a lattice. On the abTEM sets, 90 % of
    /// pristine, vacancy-rich and contaminated chips are above 0.94 (a perfect lattice gives about
    /// 1.45), 90 % of amorphised and hole chips under 0.56. White noise on a 64-pixel chip (5.6
    /// lattice periods) can reach 0.6, on a 128-pixel chip about 0.3. Higher thresholds (0.65,
    /// 0.75) put the virtual microscope's contaminated lattice on the wrong side (its mixed-region
    /// ARI falls from 0.81 to 0.73).
    public static let latticeOrderThreshold: Float = 0.5

    /// Communities whose chips show the sample's lattice: the median lattice order of their chips
    /// in every frame so far is above `latticeOrderThreshold`. Empty when the session does not
    /// know the lattice period. Pristine, vacancy-rich and contaminated lattice are in it;
    /// amorphised film and holes are not.
    public func latticeCommunities() -> Set<Int> {
        Set(latticeOrderMedians().compactMap { $0.value > Self.latticeOrderThreshold ? $0.key : nil })
    }

    /// The median lattice order of each community's chips over every frame so far (empty when the
    /// session does not know the lattice period).
    public func latticeOrderMedians() -> [Int: Float] {
        var orders: [Int: [Float]] = [:]
        for frame in frames {
            guard let order = frame.latticeOrder else { continue }
            for (community, value) in zip(frame.communities, order) { orders[community, default: []].append(value) }
        }
        return orders.mapValues { values in values.sorted()[values.count / 2] }
    }

    /// The part of the session each community's reservoir chips are in (the most common, when a
    /// re-partition has moved some), for the communities whose chips have a part: empty when the
    /// session does not know the lattice.
    public func communityParts() -> [Int: ChipPart] {
        var counts: [Int: [ChipPart: Int]] = [:]
        for (community, part) in zip(reservoirCommunity, reservoirPart) {
            guard let part else { continue }
            counts[community, default: [:]][part, default: 0] += 1
        }
        return counts.compactMapValues { parts in
            parts.max { ($0.value, $0.key.rawValue) < ($1.value, $1.key.rawValue) }?.key
        }
    }

    /// The layout of the descriptors, once a frame has been added.
    public var featureLayout: FeatureLayout? { layout }

    // MARK: - Internals

    /// A community per row of `matrix`: the similarity-weighted vote of its nearest reservoir chips
    /// (of those in the same part of the session, when `sides` says which part a row is in).
    private func assign(_ matrix: FeatureMatrix, sides: [ChipPart?]) -> [Int] {
        let n = reservoirOwner.count
        let d = matrix.columns
        var similarities = [Float](repeating: 0, count: matrix.rows * n)
        matrix.values.withUnsafeBufferPointer { rows in
            reservoirNormalised.withUnsafeBufferPointer { reservoir in
                similarities.withUnsafeMutableBufferPointer { out in
                    // Empty on either side: nothing to multiply.
                    guard let a = rows.baseAddress, let b = reservoir.baseAddress, let c = out.baseAddress else {
                        return
                    }
                    cblas_sgemm(
                        CblasRowMajor, CblasNoTrans, CblasTrans, Int32(matrix.rows), Int32(n), Int32(d), 1, a,
                        Int32(d), b, Int32(d), 0, c, Int32(n))
                }
            }
        }
        let distances = options.graph.usesDistance
        let reservoirNorms =
            distances
            ? (0..<n).map { slot in (0..<d).reduce(Float(0)) { $0 + pow(reservoirNormalised[slot * d + $1], 2) } } : []
        // A row is kept to its own part of the session only when the reservoir has that part.
        let reservoirSides = reservoirPart
        let sidesPresent = Set(reservoirSides.compactMap { $0 })
        return (0..<matrix.rows).map { row in
            var scores = Array(similarities[(row * n)..<((row + 1) * n)])
            if distances {
                // Products to negated squared distances: the nearest chips score highest.
                let norm = matrix.row(row).reduce(Float(0)) { $0 + $1 * $1 }
                for slot in 0..<n { scores[slot] = 2 * scores[slot] - norm - reservoirNorms[slot] }
            }
            if let side = sides[row], sidesPresent.contains(side) {
                for slot in 0..<n where reservoirSides[slot] != nil && reservoirSides[slot] != side {
                    scores[slot] = -.infinity
                }
            }
            let nearest = SimilarityGraph.top(
                scores, row: 0, width: n, excluding: -1, count: options.assignmentNeighbours
            ).filter { $0.1 > -.infinity }
            var votes: [Int: Float] = [:]
            for (slot, score) in nearest {
                votes[reservoirCommunity[slot], default: 0] +=
                    distances ? 1 / (1 - min(score, 0)) : max(score, 0) + 1e-6
            }
            return votes.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }?.key ?? 0
        }
    }

    private func append(
        raw: ArraySlice<Float>, normalised: ArraySlice<Float>, owner: (Int, Int), lattice: Bool?, defects: Int?,
        signal: Float?, ratio: Float?, part: ChipPart?, community: Int
    ) {
        reservoirRaw += raw
        reservoirNormalised += normalised
        reservoirOwner.append(owner)
        reservoirLattice.append(lattice)
        reservoirDefects.append(defects)
        reservoirSignal.append(signal)
        reservoirRatio.append(ratio)
        reservoirPart.append(part)
        reservoirCommunity.append(community)
        guard reservoirOwner.count > options.reservoirCapacity, let width = layout?.width else { return }
        // Evict from the community with the most chips.
        var counts: [Int: Int] = [:]
        for c in reservoirCommunity { counts[c, default: 0] += 1 }
        guard let largest = counts.max(by: { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) })?.key
        else { return }
        let members = reservoirCommunity.indices.filter { reservoirCommunity[$0] == largest }
        guard !members.isEmpty else { return }
        let victim = members[Int(random.next() % UInt64(members.count))]
        let last = reservoirOwner.count - 1
        if victim != last {
            for k in 0..<width { reservoirRaw[victim * width + k] = reservoirRaw[last * width + k] }
            if reservoirNormalised.count == reservoirRaw.count {
                for k in 0..<width { reservoirNormalised[victim * width + k] = reservoirNormalised[last * width + k] }
            }
            reservoirOwner[victim] = reservoirOwner[last]
            reservoirLattice[victim] = reservoirLattice[last]
            reservoirDefects[victim] = reservoirDefects[last]
            reservoirSignal[victim] = reservoirSignal[last]
            reservoirRatio[victim] = reservoirRatio[last]
            reservoirPart[victim] = reservoirPart[last]
            reservoirCommunity[victim] = reservoirCommunity[last]
        }
        reservoirRaw.removeLast(width)
        if reservoirNormalised.count > reservoirRaw.count { reservoirNormalised.removeLast(width) }
        reservoirOwner.removeLast()
        reservoirLattice.removeLast()
        reservoirDefects.removeLast()
        reservoirSignal.removeLast()
        reservoirRatio.removeLast()
        reservoirPart.removeLast()
        reservoirCommunity.removeLast()
    }

    /// Once the lattice chips are split by their defect counts, the counts have said what they can
    /// about the lattice: within each part what remains of them is Poisson noise, and a chip with
    /// one detection would otherwise stand apart from its neighbours with none. The detector's
    /// densities of lattice chips are then set to zero in `matrix` (non-lattice chips keep theirs:
    /// a damaged area's many detections tell it from a hole).
    private func settingAsideDensities(in matrix: inout FeatureMatrix, sides: [ChipPart?]) {
        guard defectRichThreshold != nil, let layout, let columns = extractor.embedder?.defectDensityColumns else {
            return
        }
        var start = 0
        var density: [Int] = []
        for block in layout.blocks {
            if block.name == "embedding" { density += columns.map { start + $0 } }
            start += block.width
        }
        for (chip, side) in sides.enumerated() where side?.showsLattice == true {
            for k in density { matrix.values[chip * matrix.columns + k] = 0 }
        }
    }

    /// The least difference of log signal between film and vacuum (vacuum's kind has at most two
    /// thirds of film's signal: chips partly over a hole are vacuum's kind).
    static let vacuumSignalDifference = 0.4
    /// Signals below it (a tenth of the lattice's) are all vacuum alike: noise, not a measure.
    static let vacuumSignalFloor = Float(log(0.1))
    /// The least difference of log channel ratio between covered and clean lattice (2 %).
    static let coveredRatioDifference = 0.02
    /// The least separation (Ashman's D) of covered and clean lattice: stricter than for vacuum,
    /// as a lattice's ratio also drifts a little with focus and thickness within a frame.
    static let coveredRatioSeparation = 3.0
    /// The quantile of a frame's clean lattice chips' channel ratios taken as its reference: carbon
    /// only raises the ratio, so the clean lattice is the lower part of a frame half covered in it.
    static let cleanRatioQuantile = 0.25

    /// The part of the session each of a set of chips is in (see
    /// ``sides(lattice:defects:threshold:signal:vacuumBelow:)``) under the session's thresholds,
    /// and covered lattice: lattice chips (not defect-rich) whose channel ratio, taken relative to
    /// their frame's (`frame[i]` is chip `i`'s), is at or above the covered threshold.
    private func parts(
        lattice: [Bool?], defects: [Int?]?, signal: [Float?], ratio: [Float?], frame: [Int]
    ) -> [ChipPart?] {
        var parts = Self.sides(
            lattice: lattice, defects: defects, threshold: defectRichThreshold, signal: signal,
            vacuumBelow: vacuumThreshold)
        guard let coveredThreshold else { return parts }
        let centred = Self.centredRatios(ratio, parts: parts, frame: frame)
        for i in parts.indices where parts[i] == .lattice {
            if let value = centred[i], value >= coveredThreshold { parts[i] = .covered }
        }
        return parts
    }

    /// Each chip's channel ratio less its frame's reference: the ``cleanRatioQuantile`` of the
    /// ratios of that frame's lattice chips that are not defect-rich. Nil for a chip without a
    /// ratio or in a frame with fewer than four such chips.
    static func centredRatios(_ ratio: [Float?], parts: [ChipPart?], frame: [Int]) -> [Float?] {
        var byFrame: [Int: [Float]] = [:]
        for i in ratio.indices where parts[i] == .lattice {
            if let value = ratio[i] { byFrame[frame[i], default: []].append(value) }
        }
        let reference = byFrame.compactMapValues { values in
            values.count >= ChipFeatureExtractor.minimumReferenceChips
                ? ChipDescriptors.percentile(values, cleanRatioQuantile) : nil
        }
        return ratio.indices.map { i in
            guard let value = ratio[i], let clean = reference[frame[i]] else { return nil }
            return value - clean
        }
    }

    /// Which part of the session each chip belongs to: film for chips that do not show the lattice
    /// (vacuum for those of them whose signal is below `vacuumBelow`), lattice for the others,
    /// defect-rich for lattice chips with at least `threshold` defects; nil when the lattice is not
    /// known. A chip whose signal is not known stays film.
    static func sides(
        lattice: [Bool?], defects: [Int?]?, threshold: Int?, signal: [Float?], vacuumBelow: Float?
    ) -> [ChipPart?] {
        lattice.indices.map { i in
            guard let shows = lattice[i] else { return nil }
            guard shows else {
                if let vacuumBelow, i < signal.count, let value = signal[i], value < vacuumBelow { return .vacuum }
                return .film
            }
            if let threshold, let count = defects?[i], count >= threshold { return .defectRich }
            return .lattice
        }
    }

    /// `membership` with every community of fewer than `minimum` members merged, smallest first,
    /// into the community its members have the greatest total edge weight to (a community with
    /// no links outside stays).
    static func mergingSmall(_ membership: [Int], graph: WeightedGraph, minimum: Int) -> [Int] {
        guard minimum > 1 else { return membership }
        var labels = membership
        var sizes: [Int: Int] = [:]
        for c in labels { sizes[c, default: 0] += 1 }
        var settled = Set<Int>()
        while let small = sizes.filter({ $0.value < minimum && !settled.contains($0.key) })
            .min(by: { ($0.value, $0.key) < ($1.value, $1.key) })?.key
        {
            var links: [Int: Double] = [:]
            for node in labels.indices where labels[node] == small {
                for e in graph.offsets[node]..<graph.offsets[node + 1] where labels[Int(graph.neighbours[e])] != small {
                    links[labels[Int(graph.neighbours[e])], default: 0] += graph.weights[e]
                }
            }
            guard let target = links.max(by: { ($0.value, -$0.key) < ($1.value, -$1.key) })?.key else {
                settled.insert(small)
                continue
            }
            for node in labels.indices where labels[node] == small { labels[node] = target }
            sizes[target, default: 0] += sizes[small] ?? 0
            sizes[small] = nil
        }
        return labels
    }

    /// New community numbers mapped onto old ids by overlap; unmatched ones get fresh ids.
    private func match(_ membership: [Int], to old: [Int]) -> [Int] {
        var overlap: [Int: [Int: Int]] = [:]
        for (new, previous) in zip(membership, old) where previous >= 0 {
            overlap[new, default: [:]][previous, default: 0] += 1
        }
        let pairs = overlap.flatMap { new, row in row.map { (new: new, old: $0.key, count: $0.value) } }
            .sorted { ($0.count, -$0.new, -$0.old) > ($1.count, -$1.new, -$1.old) }
        var mapping: [Int: Int] = [:]
        var taken = Set<Int>()
        for pair in pairs where mapping[pair.new] == nil && !taken.contains(pair.old) {
            mapping[pair.new] = pair.old
            taken.insert(pair.old)
        }
        nextCommunity = max(nextCommunity, (old.max() ?? -1) + 1)
        // Fresh ids in order of first appearance, so runs repeat exactly.
        for new in membership where mapping[new] == nil {
            mapping[new] = nextCommunity
            nextCommunity += 1
        }
        return membership.map { mapping[$0] ?? $0 }
    }
}
