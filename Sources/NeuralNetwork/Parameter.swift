/// A learnable array: its values, the gradient accumulated by backward passes, and the optimiser's
/// moment estimates. `shape` follows PyTorch's, so a parameter maps onto the tensor of the same
/// name in an equivalent PyTorch module.
public final class Parameter {
    /// The tensor's shape, e.g. `[out, in, k, k]`.
    public let shape: [Int]
    /// The values, row-major.
    public var value: [Float]
    /// d(loss)/d(value), accumulated until ``zeroGradient()``.
    public var gradient: [Float]
    /// Adam's first and second moment estimates.
    var firstMoment: [Float]
    var secondMoment: [Float]

    /// A parameter of `shape` holding `value`.
    public init(shape: [Int], value: [Float]) {
        precondition(shape.reduce(1, *) == value.count, "a parameter's values must fill its shape")
        self.shape = shape
        self.value = value
        gradient = [Float](repeating: 0, count: value.count)
        firstMoment = gradient
        secondMoment = gradient
    }

    /// Number of values.
    public var count: Int { value.count }

    /// Sets the gradient to zero.
    public func zeroGradient() {
        for i in gradient.indices { gradient[i] = 0 }
    }
}
