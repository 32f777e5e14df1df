/// Losses between a prediction and a target of the same shape, averaged over every value, as
/// PyTorch's `MSELoss()` and `L1Loss()` (reduction "mean"). A GAN's least-squares adversarial
/// loss is the squared error against a constant target (1 for real, 0 for made).
public enum RegressionLoss {
    /// Mean of (prediction − target)², and its gradient with respect to the prediction.
    public static func meanSquaredError(_ prediction: Tensor, _ target: Tensor) -> (loss: Float, gradient: Tensor) {
        mean(prediction, target) { d in (d * d, 2 * d) }
    }

    /// Mean of (prediction − `target`)² against one value everywhere (the LSGAN targets).
    public static func meanSquaredError(_ prediction: Tensor, target: Float) -> (loss: Float, gradient: Tensor) {
        meanSquaredError(prediction, prediction.zerosLike(target))
    }

    /// Mean of |prediction − target|, and its (sub)gradient: sign(prediction − target) / count,
    /// 0 where they are equal.
    public static func meanAbsoluteError(_ prediction: Tensor, _ target: Tensor) -> (loss: Float, gradient: Tensor) {
        mean(prediction, target) { d in (abs(d), d > 0 ? 1 : (d < 0 ? -1 : 0)) }
    }

    /// The mean of `term(prediction − target)` over every value, and its gradient from the
    /// term's derivative.
    private static func mean(
        _ prediction: Tensor, _ target: Tensor, term: (Float) -> (value: Float, derivative: Float)
    ) -> (loss: Float, gradient: Tensor) {
        precondition(prediction.sameShape(target), "prediction and target must have the same shape")
        var gradient = prediction.zerosLike()
        var sum: Double = 0
        let count = Float(prediction.data.count)
        for i in prediction.data.indices {
            let (value, derivative) = term(prediction.data[i] - target.data[i])
            sum += Double(value)
            gradient.data[i] = derivative / count
        }
        return (Float(sum / Double(count)), gradient)
    }
}
