/// The activation buffers of ``FrozenResidualUNet``, kept between calls so that a stream of
/// frames of one size allocates (and page-faults) once. Reallocated when the size or network
/// changes. Not thread-safe: one per task.
public final class InferenceWorkspace {
    struct Layout: Equatable {
        struct Level: Equatable {
            let first: Int
            let concatenated: Int
            let down: Int
            let decoded: Int
        }
        let levels: [Level]
        let bottom: Int
        let columns: Int
    }

    struct Buffers {
        let first: [UnsafeMutablePointer<Float>]
        let concatenated: [UnsafeMutablePointer<Float>]
        let down: [UnsafeMutablePointer<Float>]
        let decoded: [UnsafeMutablePointer<Float>]
        let bottom1: UnsafeMutablePointer<Float>
        let bottom2: UnsafeMutablePointer<Float>
        let columns: UnsafeMutablePointer<Float>

        var all: [UnsafeMutablePointer<Float>] {
            first + concatenated + down + decoded + [bottom1, bottom2, columns]
        }
    }

    private var layout: Layout?
    private var current: Buffers?

    /// An empty workspace; buffers are allocated on first use.
    public init() {}

    deinit { release() }

    /// Bytes held.
    public var bytes: Int {
        guard let layout else { return 0 }
        let perLevel = layout.levels.reduce(0) { $0 + $1.first + $1.concatenated + $1.down + $1.decoded }
        return (perLevel + 2 * layout.bottom + layout.columns) * MemoryLayout<Float>.size
    }

    func buffers(for network: FrozenResidualUNet, height: Int, width: Int) -> Buffers {
        let wanted = network.layout(height: height, width: width)
        if let current, layout == wanted { return current }
        release()
        func make(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(1, count))
            p.initialize(repeating: 0, count: max(1, count))
            return p
        }
        let buffers = Buffers(
            first: wanted.levels.map { make($0.first) }, concatenated: wanted.levels.map { make($0.concatenated) },
            down: wanted.levels.map { make($0.down) }, decoded: wanted.levels.map { make($0.decoded) },
            bottom1: make(wanted.bottom), bottom2: make(wanted.bottom), columns: make(wanted.columns))
        layout = wanted
        current = buffers
        return buffers
    }

    private func release() {
        current?.all.forEach { $0.deallocate() }
        current = nil
        layout = nil
    }
}
