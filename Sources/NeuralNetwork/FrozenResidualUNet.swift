/// A trained ``ResidualUNet`` frozen for inference: batch norms folded into their convolutions,
/// ReLUs fused, dropout gone, and every activation written into a reusable
/// ``InferenceWorkspace`` rather than fresh arrays. Each encoder stage's skip output is written
/// straight into the second half of its decoder's concatenation buffer, so the concatenation costs
/// nothing.
///
/// A value type holding only weights, so it can be handed to another task; the workspace is not.
public struct FrozenResidualUNet: Sendable {
    private struct Stage: Sendable {
        let encoder1: FoldedConvolution
        let encoder2: FoldedConvolution
        let shortcut: FoldedConvolution
        let up: FoldedUpsampling
        let decoder1: FoldedConvolution
        let decoder2: FoldedConvolution
        var channels: Int { encoder2.outChannels }
    }

    /// The architecture.
    public let architecture: ResidualUNet.Architecture
    private let stages: [Stage]
    private let bottleneck1: FoldedConvolution
    private let bottleneck2: FoldedConvolution
    private let head: FoldedConvolution

    /// Freezes `network`'s current weights and running statistics.
    public init(_ network: ResidualUNet) {
        architecture = network.architecture
        stages = zip(network.encoders, network.decoders.reversed()).map { encoder, decoder in
            Stage(
                encoder1: FoldedConvolution(encoder.block1.conv, norm: encoder.block1.norm, relu: true),
                encoder2: FoldedConvolution(encoder.block2.conv, norm: encoder.block2.norm, relu: true),
                shortcut: FoldedConvolution(encoder.shortcut),
                up: FoldedUpsampling(decoder.up),
                decoder1: FoldedConvolution(decoder.block1.conv, norm: decoder.block1.norm, relu: true),
                decoder2: FoldedConvolution(decoder.block2.conv, norm: decoder.block2.norm, relu: true))
        }
        bottleneck1 = FoldedConvolution(network.bottleneck1.conv, norm: network.bottleneck1.norm, relu: true)
        bottleneck2 = FoldedConvolution(network.bottleneck2.conv, norm: network.bottleneck2.norm, relu: true)
        head = FoldedConvolution(network.head)
    }

    /// Floating-point operations (two per multiply-add) of one pass over a `height` x `width` input.
    public func floatingPointOperations(height: Int, width: Int) -> Double {
        var multiplyAdds = 0
        for (level, stage) in stages.enumerated() {
            let plane = (height >> level) * (width >> level)
            multiplyAdds += plane * (stage.encoder1.multiplyAddsPerPixel + stage.encoder2.multiplyAddsPerPixel)
            multiplyAdds += plane / 4 * stage.shortcut.multiplyAddsPerPixel
            multiplyAdds += plane / 4 * stage.up.multiplyAddsPerInputPixel
            multiplyAdds += plane * (stage.decoder1.multiplyAddsPerPixel + stage.decoder2.multiplyAddsPerPixel)
        }
        let bottom = (height >> stages.count) * (width >> stages.count)
        multiplyAdds += bottom * (bottleneck1.multiplyAddsPerPixel + bottleneck2.multiplyAddsPerPixel)
        multiplyAdds += height * width * head.multiplyAddsPerPixel
        return 2 * Double(multiplyAdds)
    }

    /// Per-pixel class logits `[classes, height, width]` for one single-channel image (height and
    /// width multiples of 2^depth), using `workspace` for the activations.
    public func logits(
        _ image: UnsafeBufferPointer<Float>, height: Int, width: Int, workspace: InferenceWorkspace
    ) -> Tensor {
        let buffers = encode(image, height: height, width: width, workspace: workspace)
        var input = UnsafePointer(buffers.bottom2)
        for level in (0..<stages.count).reversed() {
            let stage = stages[level]
            let h = height >> level
            let w = width >> level
            stage.up.apply(
                input, height: h / 2, width: w / 2, into: buffers.concatenated[level], columns: buffers.columns)
            stage.decoder1.apply3x3(
                buffers.concatenated[level], height: h, width: w, into: buffers.first[level],
                columns: buffers.columns)
            stage.decoder2.apply3x3(
                buffers.first[level], height: h, width: w, into: buffers.decoded[level], columns: buffers.columns)
            input = UnsafePointer(buffers.decoded[level])
        }
        let classes = architecture.classes
        let data = [Float](unsafeUninitializedCapacity: classes * height * width) { out, count in
            head.apply1x1(input, plane: height * width, into: out.baseAddress!)
            count = classes * height * width
        }
        return Tensor(batch: 1, channels: classes, height: height, width: width, data: data)
    }

    /// The bottleneck's activations `[width·2^depth, height/2^depth, width/2^depth]`: what the
    /// encoder has learned to see in the image, one vector per 2^depth x 2^depth block of pixels.
    /// Chip-community segmentation pools them into chip embeddings.
    public func bottleneck(
        _ image: UnsafeBufferPointer<Float>, height: Int, width: Int, workspace: InferenceWorkspace
    ) -> Tensor {
        let buffers = encode(image, height: height, width: width, workspace: workspace)
        let depth = stages.count
        let channels = bottleneck2.outChannels
        let count = channels * (height >> depth) * (width >> depth)
        return Tensor(
            batch: 1, channels: channels, height: height >> depth, width: width >> depth,
            data: Array(UnsafeBufferPointer(start: buffers.bottom2, count: count)))
    }

    /// The encoder stages and the bottleneck; the skips are left in the concatenation buffers.
    private func encode(
        _ image: UnsafeBufferPointer<Float>, height: Int, width: Int, workspace: InferenceWorkspace
    ) -> InferenceWorkspace.Buffers {
        precondition(architecture.inputChannels == 1, "one input channel")
        precondition(image.count == height * width, "the image must have height x width values")
        precondition(
            height % architecture.granularity == 0 && width % architecture.granularity == 0,
            "height and width must be multiples of \(architecture.granularity)")
        let buffers = workspace.buffers(for: self, height: height, width: width)
        var input = UnsafePointer(image.baseAddress!)
        for (level, stage) in stages.enumerated() {
            let h = height >> level
            let w = width >> level
            let skip = buffers.concatenated[level] + stage.channels * h * w
            stage.encoder1.apply3x3(input, height: h, width: w, into: buffers.first[level], columns: buffers.columns)
            stage.encoder2.apply3x3(buffers.first[level], height: h, width: w, into: skip, columns: buffers.columns)
            MaxPool2D.pool(skip, channels: stage.channels, height: h, width: w, into: buffers.down[level])
            stage.shortcut.accumulate1x1Stride2(
                input, height: h, width: w, into: buffers.down[level], columns: buffers.columns)
            input = UnsafePointer(buffers.down[level])
        }
        let bh = height >> stages.count
        let bw = width >> stages.count
        bottleneck1.apply3x3(input, height: bh, width: bw, into: buffers.bottom1, columns: buffers.columns)
        bottleneck2.apply3x3(buffers.bottom1, height: bh, width: bw, into: buffers.bottom2, columns: buffers.columns)
        return buffers
    }

    /// Floats each workspace buffer needs for a `height` x `width` input.
    func layout(height: Int, width: Int) -> InferenceWorkspace.Layout {
        var columns = 0
        var levels: [InferenceWorkspace.Layout.Level] = []
        for (level, stage) in stages.enumerated() {
            let h = height >> level
            let w = width >> level
            for conv in [stage.encoder1, stage.encoder2, stage.decoder1, stage.decoder2] {
                columns = max(columns, conv.scratchNeeded(height: h, width: w))
            }
            columns = max(columns, stage.shortcut.inChannels * (h / 2) * (w / 2))
            columns = max(
                columns, stage.up.columnsNeeded(rows: stage.up.bandRows(width: w / 2, height: h / 2), width: w / 2))
            levels.append(
                .init(
                    first: stage.channels * h * w, concatenated: 2 * stage.channels * h * w,
                    down: stage.channels * h * w / 4, decoded: stage.channels * h * w))
        }
        let bh = height >> stages.count
        let bw = width >> stages.count
        for conv in [bottleneck1, bottleneck2] {
            columns = max(columns, conv.scratchNeeded(height: bh, width: bw))
        }
        let bottom = bottleneck1.outChannels * bh * bw
        return .init(levels: levels, bottom: bottom, columns: columns)
    }
}
