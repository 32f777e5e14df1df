public import Foundation

/// A PatchGAN discriminator, after CycleGAN's: `layers` 4 x 4 convolutions with leaky ReLU (0.2),
/// each doubling the channels from `width` and halving the size (the last at stride 1), instance
/// norm after all but the first, and a 4 x 4 head to one score per patch. The least-squares loss
/// asks for 1 on real tiles and 0 on made ones, patch by patch.
///
/// With `fourier` it judges the centred log amplitude of each tile's Fourier transform
/// (``FourierLogAmplitude``, then an instance norm so that the spectrum's overall level does not
/// matter) rather than its pixels: the paper's Fourier-space discriminator, which sees lattice
/// spots, noise floor and blur that a patch of pixels shows poorly.
///
/// State names map onto a PyTorch module built the same way (`nn.Conv2d(kernel_size=4,
/// padding=1)`, stride 2 but for the last layer and the head): `layers.{i}.conv.weight`,
/// `layers.{i}.conv.bias`, `head.conv.weight`, `head.conv.bias`.
public final class PatchDiscriminator {
    /// The shape of a discriminator.
    public struct Architecture: Sendable, Hashable, Codable {
        /// Image channels.
        public var channels = 1
        /// Channels of the first layer.
        public var width = 8
        /// Convolution layers before the head.
        public var layers = 3
        /// Judge the Fourier log amplitude instead of the pixels.
        public var fourier = false

        /// A discriminator's shape.
        public init(channels: Int = 1, width: Int = 8, layers: Int = 3, fourier: Bool = false) {
            self.channels = channels
            self.width = width
            self.layers = layers
            self.fourier = fourier
        }
    }

    /// The shape.
    public let architecture: Architecture
    private let spectrum: FourierLogAmplitude?
    private let spectrumNorm: InstanceNorm2D?
    private let units: [ConvNormActivation]
    private let head: ConvNormActivation

    /// A discriminator with weights initialised from `seed`.
    public init(architecture: Architecture = Architecture(), seed: UInt64 = 1) {
        precondition(
            architecture.channels > 0 && architecture.width > 0 && architecture.layers > 0,
            "a discriminator's sizes must be positive")
        self.architecture = architecture
        spectrum = architecture.fourier ? FourierLogAmplitude() : nil
        spectrumNorm = architecture.fourier ? InstanceNorm2D(channels: architecture.channels, affine: false) : nil
        var channels = architecture.channels
        var units: [ConvNormActivation] = []
        for i in 0..<architecture.layers {
            let out = architecture.width << i
            units.append(
                ConvNormActivation(
                    channels, out, kernel: 4, stride: i == architecture.layers - 1 ? 1 : 2, padding: 1,
                    normalised: i > 0, activation: .leaky, seed: seed + UInt64(i)))
            channels = out
        }
        self.units = units
        head = ConvNormActivation(
            channels, 1, kernel: 4, padding: 1, normalised: false, activation: .none, seed: seed + 100)
    }

    /// One score per patch of each tile (before any sigmoid; the least-squares loss takes it as is).
    public func forward(_ x: Tensor) -> Tensor {
        precondition(
            x.channels == architecture.channels, "expected \(architecture.channels) channels, got \(x.channels)")
        var y = x
        if let spectrum, let spectrumNorm { y = spectrumNorm.forward(spectrum.forward(y)) }
        for unit in units { y = unit.forward(y) }
        return head.forward(y)
    }

    /// Accumulates the parameters' gradients for `dy` at the scores of the last forward pass and
    /// returns the gradient at its input (what a generator learns from).
    public func backward(_ dy: Tensor) -> Tensor {
        var d = head.backward(dy)
        for unit in units.reversed() { d = unit.backward(d) }
        if let spectrum, let spectrumNorm { d = spectrum.backward(spectrumNorm.backward(d)) }
        return d
    }

    /// Every tensor of the state by name.
    public var state: [String: StateTensor] {
        var state = head.state("head")
        for (i, unit) in units.enumerated() { state.merge(unit.state("layers.\(i)")) { $1 } }
        return state
    }

    /// The learnable parameters, in the order of their names.
    public var parameters: [Parameter] { ResNetGenerator.parameters(of: state) }

    /// Writes the state as safetensors, with `metadata`.
    public func save(to url: URL, metadata: [String: String] = [:]) throws(SafeTensorsError) {
        try SafeTensors.save(state: state, metadata: metadata, to: url)
    }

    /// Reads the state from safetensors; returns the file's metadata.
    @discardableResult
    public func load(from url: URL) throws(SafeTensorsError) -> [String: String] {
        try SafeTensors.load(url, into: state)
    }
}
