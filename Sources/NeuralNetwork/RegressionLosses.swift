/// Losses between a prediction and a target of the same shape, averaged over every value, as
/// PyTorch's `MSELoss()` and `L1Loss()` (reduction "mean"). A GAN's least-squares adversarial
/// loss is the squared error against a constant target (1 for real, 0 for made).
public enum RegressionLoss {
    /// Mean of (prediction − target)², and its gradient with respect to the prediction.
    public static func meanSquaredError(_ prediction: Tensor, _ target: Tensor) -> (loss: Float, gradient: Tensor) {
        precondition(prediction.sameShape(target), "prediction and target must have the same shape")
        var gradient = prediction.zerosLike()
        var sum: Double = 0
        let count = Float(prediction.data.count)
        for i in prediction.data.indices {
            let d = prediction.data[i] - target.data[i]
            sum += Double(d * d)
            gradient.data[i] = 2 * d / count
        }
        return (Float(sum / Double(count)), gradient)
    }

    /// Mean of (prediction − `target`)² against one value everywhere (the LSGAN targets).
    public static func meanSquaredError(_ prediction: Tensor, target: Float) -> (loss: Float, gradient: Tensor) {
        meanSquaredError(prediction, prediction.zerosLike(target))
    }

    /// Mean of |prediction − target|, and its (sub)gradient: sign(prediction − target) / count,
    /// 0 where they are equal.
    public static func meanAbsoluteError(_ prediction: Tensor, _ target: Tensor) -> (loss: Float, gradient: Tensor) {
        precondition(prediction.sameShape(target), "prediction and target must have the same shape")
        var gradient = prediction.zerosLike()
        var sum: Double = 0
        let count = Float(prediction.data.count)
        for i in prediction.data.indices {
            let d = prediction.data[i] - target.data[i]
            sum += Double(abs(d))
            gradient.data[i] = d > 0 ? 1 / count : (d < 0 ? -1 / count : 0)
        }
        return (Float(sum / Double(count)), gradient)
    }
}
