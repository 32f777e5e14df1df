/// Inverted dropout: in training each value is zeroed with probability `rate` and the rest scaled
/// by 1/(1 − rate); in inference it passes values through.
public final class Dropout {
    /// The probability of dropping a value.
    public let rate: Float
    private var generator: Initialiser
    private var mask: [Float] = []

    /// Dropout at `rate`, with its own seeded generator (training runs repeat exactly).
    public init(rate: Float, seed: UInt64 = 1) {
        precondition(rate >= 0 && rate < 1, "the dropout rate must be in [0, 1)")
        self.rate = rate
        generator = Initialiser(seed: seed)
    }

    /// Drops values when `training`.
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        guard training, rate > 0 else {
            mask = []
            return x
        }
        let keep = 1 / (1 - rate)
        mask = x.data.map { _ in generator.uniform() < rate ? 0 : keep }
        var y = x
        for i in y.data.indices { y.data[i] *= mask[i] }
        return y
    }

    /// The gradient through the same mask.
    public func backward(_ dy: Tensor) -> Tensor {
        guard !mask.isEmpty else { return dy }
        var dx = dy
        for i in dx.data.indices { dx.data[i] *= mask[i] }
        return dx
    }
}
