/// max(0, x), element-wise.
public final class ReLU {
    private var mask: [Bool] = []

    /// A ReLU.
    public init() {}

    /// Applies max(0, x).
    public func forward(_ x: Tensor) -> Tensor {
        var y = x
        mask = x.data.map { $0 > 0 }
        for i in y.data.indices where !mask[i] { y.data[i] = 0 }
        return y
    }

    /// Passes the gradient where the input was positive.
    public func backward(_ dy: Tensor) -> Tensor {
        var dx = dy
        for i in dx.data.indices where !mask[i] { dx.data[i] = 0 }
        return dx
    }
}

/// 2 x 2 max pooling with stride 2 (odd trailing rows or columns are dropped, as in PyTorch).
public final class MaxPool2D {
    private var winners: [Int] = []
    private var inputShape: Tensor?

    /// A 2 x 2 pool.
    public init() {}

    /// Halves height and width, keeping each 2 x 2 window's maximum.
    public func forward(_ x: Tensor) -> Tensor {
        let h = x.height / 2
        let w = x.width / 2
        precondition(h > 0 && w > 0, "max pooling needs at least 2 x 2 pixels")
        var y = Tensor(batch: x.batch, channels: x.channels, height: h, width: w)
        winners = [Int](repeating: 0, count: y.data.count)
        for plane in 0..<(x.batch * x.channels) {
            let base = plane * x.planeSize
            for oy in 0..<h {
                for ox in 0..<w {
                    var best = base + 2 * oy * x.width + 2 * ox
                    for (dy, dx) in [(0, 1), (1, 0), (1, 1)] {
                        let index = base + (2 * oy + dy) * x.width + 2 * ox + dx
                        if x.data[index] > x.data[best] { best = index }
                    }
                    let out = plane * h * w + oy * w + ox
                    y.data[out] = x.data[best]
                    winners[out] = best
                }
            }
        }
        inputShape = x.zerosLike()
        return y
    }

    /// Inference only: pools `channels` planes of `height` x `width` into `output`.
    static func pool(
        _ input: UnsafePointer<Float>, channels: Int, height: Int, width: Int, into output: UnsafeMutablePointer<Float>
    ) {
        let h = height / 2
        let w = width / 2
        for c in 0..<channels {
            let plane = input + c * height * width
            let target = output + c * h * w
            for y in 0..<h {
                let upper = plane + 2 * y * width
                let lower = upper + width
                for x in 0..<w {
                    target[y * w + x] = max(max(upper[2 * x], upper[2 * x + 1]), max(lower[2 * x], lower[2 * x + 1]))
                }
            }
        }
    }

    /// Routes each gradient to the window's maximum.
    public func backward(_ dy: Tensor) -> Tensor {
        guard var dx = inputShape else { preconditionFailure("backward before forward") }
        for (i, winner) in winners.enumerated() { dx.data[winner] += dy.data[i] }
        return dx
    }
}

/// Joins tensors along the channel axis (the U-Net's skip connections).
public enum ChannelConcat {
    /// `a` and `b`, channels of `a` first.
    public static func forward(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(
            a.batch == b.batch && a.height == b.height && a.width == b.width, "concat needs equal batch and size")
        var y = Tensor(batch: a.batch, channels: a.channels + b.channels, height: a.height, width: a.width)
        for n in 0..<a.batch {
            let target = n * y.itemSize
            y.data.replaceSubrange(
                target..<(target + a.itemSize), with: a.data[(n * a.itemSize)..<((n + 1) * a.itemSize)])
            y.data.replaceSubrange(
                (target + a.itemSize)..<(target + y.itemSize), with: b.data[(n * b.itemSize)..<((n + 1) * b.itemSize)])
        }
        return y
    }

    /// Splits the gradient back into the parts for `a` (first `channels` channels) and `b`.
    public static func backward(_ dy: Tensor, splitAt channels: Int) -> (Tensor, Tensor) {
        var da = Tensor(batch: dy.batch, channels: channels, height: dy.height, width: dy.width)
        var db = Tensor(batch: dy.batch, channels: dy.channels - channels, height: dy.height, width: dy.width)
        for n in 0..<dy.batch {
            let source = n * dy.itemSize
            da.data.replaceSubrange(
                (n * da.itemSize)..<((n + 1) * da.itemSize), with: dy.data[source..<(source + da.itemSize)])
            db.data.replaceSubrange(
                (n * db.itemSize)..<((n + 1) * db.itemSize),
                with: dy.data[(source + da.itemSize)..<(source + dy.itemSize)])
        }
        return (da, db)
    }
}
