public import Foundation

/// The paper's realism model (REFERENCE.md section 3): two generators, G from domain A
/// (simulations) to domain B (the microscope's frames) and F back, and four least-squares
/// discriminators, one on pixels and one on the Fourier log amplitude for each domain.
///
/// One ``step(a:b:)`` updates the generators on the adversarial losses of all four
/// discriminators, the cycle losses |F(G(a)) − a| and |G(F(b)) − b| (weight `cycleWeight`) and
/// the identity losses |G(b) − b| and |F(a) − a| (weight `identityWeight`), which keep G from
/// moving what is already right, labels included; then each discriminator on real tiles against
/// the generators' current output. Tiles are in −1 ... 1 (the generators end in tanh).
public final class CycleGAN {
    /// The networks' shapes and the losses' weights.
    public struct Configuration: Sendable, Hashable, Codable {
        /// Both generators.
        public var generator = ResNetGenerator.Architecture()
        /// The four discriminators (the Fourier ones with `fourier` set).
        public var discriminator = PatchDiscriminator.Architecture()
        /// Weight of the cycle losses (10 in the paper).
        public var cycleWeight: Float = 10
        /// Weight of the identity losses (5 in the paper).
        public var identityWeight: Float = 5
        /// Adam's step size for every network (2e-4 in CycleGAN).
        public var learningRate: Float = 2e-4

        /// The paper's weights on networks of the given shapes.
        public init(
            generator: ResNetGenerator.Architecture = .init(), discriminator: PatchDiscriminator.Architecture = .init()
        ) {
            self.generator = generator
            self.discriminator = discriminator
        }
    }

    /// The losses of one step, each a mean over its tiles.
    public struct Losses: Sendable, Hashable, Codable {
        /// Least-squares adversarial loss of G and F against all four discriminators.
        public var adversarial: Float
        /// |F(G(a)) − a| + |G(F(b)) − b|, unweighted.
        public var cycle: Float
        /// |G(b) − b| + |F(a) − a|, unweighted.
        public var identity: Float
        /// The four discriminators' losses, summed.
        public var discriminators: Float

        /// Losses of the given values.
        public init(adversarial: Float, cycle: Float, identity: Float, discriminators: Float) {
            self.adversarial = adversarial
            self.cycle = cycle
            self.identity = identity
            self.discriminators = discriminators
        }
    }

    /// What the model is.
    public let configuration: Configuration
    /// Simulation → microscope.
    public let g: ResNetGenerator
    /// Microscope → simulation.
    public let f: ResNetGenerator
    /// Judges domain B's pixels.
    public let dB: PatchDiscriminator
    /// Judges domain B's spectra.
    public let dBFourier: PatchDiscriminator
    /// Judges domain A's pixels.
    public let dA: PatchDiscriminator
    /// Judges domain A's spectra.
    public let dAFourier: PatchDiscriminator
    private let generatorOptimiser: Adam
    private let discriminatorOptimiser: Adam

    /// A model with weights from `seed`.
    public init(configuration: Configuration = Configuration(), seed: UInt64 = 1) {
        self.configuration = configuration
        g = ResNetGenerator(architecture: configuration.generator, seed: seed)
        f = ResNetGenerator(architecture: configuration.generator, seed: seed + 1000)
        var pixels = configuration.discriminator
        pixels.fourier = false
        var spectra = configuration.discriminator
        spectra.fourier = true
        dB = PatchDiscriminator(architecture: pixels, seed: seed + 2000)
        dBFourier = PatchDiscriminator(architecture: spectra, seed: seed + 3000)
        dA = PatchDiscriminator(architecture: pixels, seed: seed + 4000)
        dAFourier = PatchDiscriminator(architecture: spectra, seed: seed + 5000)
        generatorOptimiser = Adam(
            parameters: g.parameters + f.parameters, learningRate: configuration.learningRate, beta1: 0.5)
        discriminatorOptimiser = Adam(
            parameters: [dB, dBFourier, dA, dAFourier].flatMap(\.parameters), learningRate: configuration.learningRate,
            beta1: 0.5)
    }

    /// Steps taken.
    public var steps: Int { generatorOptimiser.steps }

    /// One training step on a batch of simulated tiles `a` and microscope tiles `b` (same shape).
    @discardableResult
    public func step(a: Tensor, b: Tensor) -> Losses {
        precondition(a.sameShape(b), "both domains' batches must have the same shape")
        let cycleWeight = configuration.cycleWeight
        let identityWeight = configuration.identityWeight
        var adversarial: Float = 0
        var cycle: Float = 0
        var identity: Float = 0

        // The generators. Every network keeps only its last forward pass, so each pass's backward
        // follows before the same network runs again.
        func fool(_ discriminators: [PatchDiscriminator], _ made: Tensor) -> Tensor {
            var gradient = made.zerosLike()
            for d in discriminators {
                let (loss, dScores) = RegressionLoss.meanSquaredError(d.forward(made), target: 1)
                adversarial += loss
                add(&gradient, d.backward(dScores))
            }
            return gradient
        }
        // a → G → F: the adversarial loss of G(a) and the cycle back to a.
        let fakeB = g.forward(a)
        var dFakeB = fool([dB, dBFourier], fakeB)
        let (cycleA, dCycleA) = RegressionLoss.meanAbsoluteError(f.forward(fakeB), a)
        cycle += cycleA
        add(&dFakeB, f.backward(scaled(dCycleA, cycleWeight)))
        _ = g.backward(dFakeB)
        // b → F → G.
        let fakeA = f.forward(b)
        var dFakeA = fool([dA, dAFourier], fakeA)
        let (cycleB, dCycleB) = RegressionLoss.meanAbsoluteError(g.forward(fakeA), b)
        cycle += cycleB
        add(&dFakeA, g.backward(scaled(dCycleB, cycleWeight)))
        _ = f.backward(dFakeA)
        // Identity: each generator leaves its own target domain alone.
        let (identityB, dIdentityB) = RegressionLoss.meanAbsoluteError(g.forward(b), b)
        _ = g.backward(scaled(dIdentityB, identityWeight))
        let (identityA, dIdentityA) = RegressionLoss.meanAbsoluteError(f.forward(a), a)
        _ = f.backward(scaled(dIdentityA, identityWeight))
        identity = identityA + identityB
        generatorOptimiser.step()

        // The discriminators: real tiles towards 1, the generators' output towards 0. The
        // generators' passes above left gradients in them; those are not theirs to learn from.
        let discriminators = [dB, dBFourier, dA, dAFourier]
        for d in discriminators { for p in d.parameters { p.zeroGradient() } }
        var discriminatorLoss: Float = 0
        for (d, real, made) in [(dB, b, fakeB), (dBFourier, b, fakeB), (dA, a, fakeA), (dAFourier, a, fakeA)] {
            let (realLoss, dReal) = RegressionLoss.meanSquaredError(d.forward(real), target: 1)
            _ = d.backward(scaled(dReal, 0.5))
            let (madeLoss, dMade) = RegressionLoss.meanSquaredError(d.forward(made), target: 0)
            _ = d.backward(scaled(dMade, 0.5))
            discriminatorLoss += 0.5 * (realLoss + madeLoss)
        }
        discriminatorOptimiser.step()
        return Losses(adversarial: adversarial, cycle: cycle, identity: identity, discriminators: discriminatorLoss)
    }

    /// G applied to simulated tiles (inference).
    public func translate(_ a: Tensor) -> Tensor { g.forward(a) }

    // MARK: - Checkpoints

    /// Every network's state and both optimisers' moments, by name (`G.`, `F.`, `DB.`, `DBFourier.`,
    /// `DA.`, `DAFourier.` before the network's own names; `adam.` before those for the moments).
    private var checkpointState: [String: StateTensor] {
        var state: [String: StateTensor] = [:]
        for (prefix, network) in networks {
            for (name, tensor) in network {
                state["\(prefix).\(name)"] = tensor
                guard case .parameter(let p) = tensor else { continue }
                state["adam.\(prefix).\(name).m"] = .buffer(
                    shape: p.shape, get: { p.firstMoment }, set: { p.firstMoment = $0 })
                state["adam.\(prefix).\(name).v"] = .buffer(
                    shape: p.shape, get: { p.secondMoment }, set: { p.secondMoment = $0 })
            }
        }
        return state
    }

    private var networks: [(String, [String: StateTensor])] {
        [
            ("G", g.state), ("F", f.state), ("DB", dB.state), ("DBFourier", dBFourier.state), ("DA", dA.state),
            ("DAFourier", dAFourier.state),
        ]
    }

    /// Writes everything a resumed run needs (networks, optimiser moments, steps, configuration).
    public func saveCheckpoint(to url: URL, metadata: [String: String] = [:]) throws(SafeTensorsError) {
        var metadata = metadata
        metadata["steps"] = String(steps)
        metadata["configuration"] = Self.encoded(configuration)
        try SafeTensors.save(state: checkpointState, metadata: metadata, to: url)
    }

    /// Resumes from a checkpoint made by a model of the same configuration; returns its metadata.
    @discardableResult
    public func loadCheckpoint(from url: URL) throws(SafeTensorsError) -> [String: String] {
        let (_, stored) = try SafeTensors.read(url)
        guard stored["configuration"] == Self.encoded(configuration) else {
            throw SafeTensorsError(
                path: url.path,
                problem:
                    "the checkpoint was made for another configuration (\(stored["configuration"] ?? "none")), not \(Self.encoded(configuration))"
            )
        }
        let metadata = try SafeTensors.load(url, into: checkpointState)
        let steps = Int(metadata["steps"] ?? "") ?? 0
        generatorOptimiser.steps = steps
        discriminatorOptimiser.steps = steps
        return metadata
    }

    private static func encoded(_ configuration: Configuration) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(configuration)).flatMap { String(data: $0, encoding: .utf8) } ?? ""
    }
}

/// `target` += `other`, element-wise.
private func add(_ target: inout Tensor, _ other: Tensor) {
    for i in target.data.indices { target.data[i] += other.data[i] }
}

/// `tensor` times `factor`.
private func scaled(_ tensor: Tensor, _ factor: Float) -> Tensor {
    var out = tensor
    for i in out.data.indices { out.data[i] *= factor }
    return out
}
