extension Image {
    /// Mean and standard deviation of the pixels of the `width` x `height` rectangle from column
    /// `x`, row `y`, clipped to the image (nil when nothing of it lies inside). Non-finite pixels
    /// are left out.
    public func statistics(x: Int, y: Int, width: Int, height: Int) -> (mean: Double, std: Double)? {
        let x0 = max(0, x)
        let y0 = max(0, y)
        let x1 = min(self.width, x + max(0, width))
        let y1 = min(self.height, y + max(0, height))
        guard x0 < x1, y0 < y1 else { return nil }
        var count = 0
        var sum = 0.0
        var squares = 0.0
        pixels.withUnsafeBufferPointer { values in
            for row in y0..<y1 {
                for column in x0..<x1 {
                    let value = Double(values[row * self.width + column])
                    guard value.isFinite else { continue }
                    count += 1
                    sum += value
                    squares += value * value
                }
            }
        }
        guard count > 0 else { return nil }
        let mean = sum / Double(count)
        return (mean, max(0, squares / Double(count) - mean * mean).squareRoot())
    }

    /// Mean and standard deviation of the whole image.
    public var statistics: (mean: Double, std: Double)? { statistics(x: 0, y: 0, width: width, height: height) }

    /// The image averaged over square blocks so that neither side exceeds `side` pixels (itself
    /// when it is that small already). Pixels beyond the last whole block are left out.
    public func blockAveraged(toAtMost side: Int) -> Image {
        let factor = max(1, (max(width, height) + max(1, side) - 1) / max(1, side))
        guard factor > 1 else { return self }
        let smallWidth = max(1, width / factor)
        let smallHeight = max(1, height / factor)
        var small = [Float](repeating: 0, count: smallWidth * smallHeight)
        let scale = 1 / Float(factor * factor)
        pixels.withUnsafeBufferPointer { values in
            for y in 0..<smallHeight {
                for x in 0..<smallWidth {
                    var sum: Float = 0
                    for dy in 0..<factor where y * factor + dy < height {
                        for dx in 0..<factor where x * factor + dx < width {
                            sum += values[(y * factor + dy) * width + x * factor + dx]
                        }
                    }
                    small[y * smallWidth + x] = sum * scale
                }
            }
        }
        return Image(width: smallWidth, height: smallHeight, pixels: small)
    }
}
