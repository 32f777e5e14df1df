/// Where a frame's chips lie: a regular grid of square chips, centred on the frame.
public struct ChipGrid: Sendable, Hashable, Codable {
    /// Column of the first chip's left edge, pixels.
    public let originX: Int
    /// Row of the first chip's top edge, pixels.
    public let originY: Int
    /// Chip side, pixels.
    public let chipSize: Int
    /// Distance between neighbouring chips' origins, pixels (equal to the size for a tiling).
    public let stride: Int
    /// Chips per row.
    public let columns: Int
    /// Chip rows.
    public let rows: Int

    /// The grid of `chipSize` chips every `stride` pixels that fits a `width` x `height` frame,
    /// centred so that the margins left over are split evenly. Empty if no chip fits.
    public init(width: Int, height: Int, chipSize: Int, stride: Int) {
        precondition(chipSize > 0 && stride > 0, "chip size and stride must be positive")
        self.chipSize = chipSize
        self.stride = stride
        columns = width >= chipSize ? (width - chipSize) / stride + 1 : 0
        rows = height >= chipSize ? (height - chipSize) / stride + 1 : 0
        originX = columns > 0 ? (width - ((columns - 1) * stride + chipSize)) / 2 : 0
        originY = rows > 0 ? (height - ((rows - 1) * stride + chipSize)) / 2 : 0
    }

    /// Number of chips.
    public var count: Int { columns * rows }

    /// Top-left pixel of chip `index` (row-major).
    public func origin(of index: Int) -> (x: Int, y: Int) {
        (originX + (index % columns) * stride, originY + (index / columns) * stride)
    }

    /// The chip that contains pixel (x, y) in a tiling (stride ≥ size); with overlapping chips,
    /// the one whose origin is last before it. Nil outside every chip.
    public func chip(containingX x: Int, y: Int) -> Int? {
        guard count > 0, x >= originX, y >= originY else { return nil }
        let column = min(columns - 1, (x - originX) / stride)
        let row = min(rows - 1, (y - originY) / stride)
        guard x - (originX + column * stride) < chipSize, y - (originY + row * stride) < chipSize else { return nil }
        return row * columns + column
    }

    /// How many of `points` (pixel coordinates, such as a detector's defects) fall in each chip.
    public func counts(of points: some Sequence<(x: Double, y: Double)>) -> [Int] {
        var counts = [Int](repeating: 0, count: count)
        for point in points {
            if let chip = chip(containingX: Int(point.x.rounded()), y: Int(point.y.rounded())) { counts[chip] += 1 }
        }
        return counts
    }
}
