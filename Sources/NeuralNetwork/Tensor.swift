/// A batch of feature maps: `batch` x `channels` x `height` x `width` floats, in that order (NCHW),
/// the layout PyTorch uses, so weights and activations map one to one.
public struct Tensor: Sendable, Equatable {
    /// Items in the batch.
    public let batch: Int
    /// Channels per item.
    public let channels: Int
    /// Rows.
    public let height: Int
    /// Columns.
    public let width: Int
    /// The values, NCHW.
    public var data: [Float]

    /// A tensor of `value`.
    public init(batch: Int, channels: Int, height: Int, width: Int, value: Float = 0) {
        precondition(batch > 0 && channels > 0 && height > 0 && width > 0, "tensor dimensions must be positive")
        self.batch = batch
        self.channels = channels
        self.height = height
        self.width = width
        data = [Float](repeating: value, count: batch * channels * height * width)
    }

    /// A tensor over existing values.
    public init(batch: Int, channels: Int, height: Int, width: Int, data: [Float]) {
        precondition(data.count == batch * channels * height * width, "data must fill the tensor")
        self.batch = batch
        self.channels = channels
        self.height = height
        self.width = width
        self.data = data
    }

    /// Values per item (channels x height x width).
    public var itemSize: Int { channels * height * width }

    /// Values per channel plane.
    public var planeSize: Int { height * width }

    /// A tensor of the same shape filled with `value`.
    public func zerosLike(_ value: Float = 0) -> Tensor {
        Tensor(batch: batch, channels: channels, height: height, width: width, value: value)
    }

    /// Whether two tensors have the same shape.
    public func sameShape(_ other: Tensor) -> Bool {
        batch == other.batch && channels == other.channels && height == other.height && width == other.width
    }
}
