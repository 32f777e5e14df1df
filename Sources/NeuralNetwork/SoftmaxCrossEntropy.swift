import Foundation

/// Per-pixel softmax cross-entropy with class weights, as PyTorch's
/// `CrossEntropyLoss(weight: w, reduction: "mean")`: Σ w[y]·(−log softmax(x)[y]) / Σ w[y].
/// Rare classes (defects) get larger weights so that background does not swamp them.
public enum SoftmaxCrossEntropy {
    /// The loss and its gradient with respect to the logits. `labels` holds one class index per
    /// pixel (batch x height x width); `weights` one weight per class.
    public static func evaluate(logits: Tensor, labels: [Int], weights: [Float]) -> (loss: Float, gradient: Tensor) {
        precondition(labels.count == logits.batch * logits.planeSize, "one label per pixel")
        precondition(weights.count == logits.channels, "one weight per class")
        var gradient = logits.zerosLike()
        var loss: Double = 0
        var total: Double = 0
        var probabilities = [Float](repeating: 0, count: logits.channels)
        for n in 0..<logits.batch {
            for p in 0..<logits.planeSize {
                let label = labels[n * logits.planeSize + p]
                precondition(label >= 0 && label < logits.channels, "label \(label) is not a class")
                var largest = -Float.infinity
                for c in 0..<logits.channels {
                    largest = max(largest, logits.data[n * logits.itemSize + c * logits.planeSize + p])
                }
                var sum: Float = 0
                for c in 0..<logits.channels {
                    probabilities[c] = exp(logits.data[n * logits.itemSize + c * logits.planeSize + p] - largest)
                    sum += probabilities[c]
                }
                let weight = weights[label]
                loss -= Double(weight) * log(Double(probabilities[label] / sum))
                total += Double(weight)
                for c in 0..<logits.channels {
                    let q = probabilities[c] / sum - (c == label ? 1 : 0)
                    gradient.data[n * logits.itemSize + c * logits.planeSize + p] = weight * q
                }
            }
        }
        let scale = total > 0 ? Float(1 / total) : 0
        for i in gradient.data.indices { gradient.data[i] *= scale }
        return (Float(loss * Double(scale)), gradient)
    }
}
