/// A single-precision image: `height` rows of `width` pixels, row-major, origin top-left.
public struct Image: Sendable, Equatable {
    /// Columns.
    public let width: Int
    /// Rows.
    public let height: Int
    /// The pixels, row by row.
    public var pixels: [Float]

    /// An image filled with `value`.
    public init(width: Int, height: Int, value: Float = 0) {
        precondition(width > 0 && height > 0, "an image has at least one pixel")
        self.width = width
        self.height = height
        pixels = [Float](repeating: value, count: width * height)
    }

    /// An image over existing pixels.
    public init(width: Int, height: Int, pixels: [Float]) {
        precondition(width > 0 && height > 0 && pixels.count == width * height, "pixels must fill width x height")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// The pixel at column `x`, row `y`.
    public subscript(x: Int, y: Int) -> Float {
        get { pixels[y * width + x] }
        set { pixels[y * width + x] = newValue }
    }

    /// The `width` x `height` pixels from column `x`, row `y` (which must lie inside the image).
    public func crop(x: Int, y: Int, width: Int, height: Int) -> Image {
        precondition(x >= 0 && y >= 0 && x + width <= self.width && y + height <= self.height, "crop outside the image")
        var out = [Float](repeating: 0, count: width * height)
        for row in 0..<height {
            let source = (y + row) * self.width + x
            out.withUnsafeMutableBufferPointer { target in
                pixels.withUnsafeBufferPointer { from in
                    _ = UnsafeMutableBufferPointer(rebasing: target[(row * width)..<((row + 1) * width)])
                        .initialize(from: from[source..<(source + width)])
                }
            }
        }
        return Image(width: width, height: height, pixels: out)
    }

    /// The mean pixel value.
    public var mean: Float { pixels.reduce(0, +) / Float(pixels.count) }

    /// The population standard deviation.
    public var standardDeviation: Float {
        let m = mean
        return (pixels.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Float(pixels.count)).squareRoot()
    }

    /// The value at a fractional position by bilinear interpolation; positions outside are clamped
    /// to the border.
    public func sample(x: Float, y: Float) -> Float {
        let cx = min(max(x, 0), Float(width - 1))
        let cy = min(max(y, 0), Float(height - 1))
        let x0 = Int(cx)
        let y0 = Int(cy)
        let x1 = min(x0 + 1, width - 1)
        let y1 = min(y0 + 1, height - 1)
        let fx = cx - Float(x0)
        let fy = cy - Float(y0)
        let top = self[x0, y0] * (1 - fx) + self[x1, y0] * fx
        let bottom = self[x0, y1] * (1 - fx) + self[x1, y1] * fx
        return top * (1 - fy) + bottom * fy
    }
}
