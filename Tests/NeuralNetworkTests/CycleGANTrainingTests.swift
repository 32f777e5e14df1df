import Foundation
import NeuralNetwork
import Testing

/// A tiny CycleGAN between two synthetic domains: A, clean tiles of Gaussian atoms on a grid with
/// one vacancy each; B, the same kind of tiles as a microscope would show them (blurred, lower
/// contrast, offset, noisy).
@Suite("CycleGAN training")
struct CycleGANTrainingTests {
    static let side = 16
    static let configuration: CycleGAN.Configuration = {
        var configuration = CycleGAN.Configuration(
            generator: .init(width: 4, downsamplings: 1, residualBlocks: 1), discriminator: .init(width: 4, layers: 2))
        configuration.learningRate = 2e-3
        return configuration
    }()

    /// A batch of `count` tiles of one domain, and each tile's vacancy (x, y).
    static func batch(_ count: Int, microscope: Bool, random: inout TestRandom) -> (Tensor, [(Int, Int)]) {
        let side = Self.side
        var data: [Float] = []
        var vacancies: [(Int, Int)] = []
        for _ in 0..<count {
            let vacancy = (2 + 4 * Int((random.next() + 1) * 1.99), 2 + 4 * Int((random.next() + 1) * 1.99))
            vacancies.append(vacancy)
            var tile = [Float](repeating: 0, count: side * side)
            for ay in stride(from: 2, to: side, by: 4) {
                for ax in stride(from: 2, to: side, by: 4) where (ax, ay) != vacancy {
                    for y in 0..<side {
                        for x in 0..<side {
                            let d2 = Float((x - ax) * (x - ax) + (y - ay) * (y - ay))
                            tile[y * side + x] += exp(-d2 / (microscope ? 3.0 : 1.5))
                        }
                    }
                }
            }
            data += tile.map { v in microscope ? 0.6 * (1.6 * v - 0.8) + 0.1 + 0.08 * random.next() : 1.6 * v - 0.8 }
        }
        return (Tensor(batch: count, channels: 1, height: side, width: side, data: data), vacancies)
    }

    @Test("losses fall, G's output takes on the microscope's contrast, and vacancies stay where they were")
    func learns() {
        var random = TestRandom(seed: 61)
        let model = CycleGAN(configuration: Self.configuration, seed: 5)
        var early: [CycleGAN.Losses] = []
        var late: [CycleGAN.Losses] = []
        let steps = 400
        for step in 0..<steps {
            let (a, _) = Self.batch(2, microscope: false, random: &random)
            let (b, _) = Self.batch(2, microscope: true, random: &random)
            let losses = model.step(a: a, b: b)
            #expect(losses.cycle.isFinite && losses.adversarial.isFinite && losses.discriminators.isFinite)
            if step < 10 { early.append(losses) }
            if step >= steps - 10 { late.append(losses) }
        }
        #expect(model.steps == steps)
        func mean(_ losses: [CycleGAN.Losses], _ key: KeyPath<CycleGAN.Losses, Float>) -> Float {
            losses.map { $0[keyPath: key] }.reduce(0, +) / Float(losses.count)
        }
        #expect(
            mean(late, \.cycle) < 0.6 * mean(early, \.cycle), "cycle \(mean(early, \.cycle)) → \(mean(late, \.cycle))")
        #expect(
            mean(late, \.identity) < 0.6 * mean(early, \.identity),
            "identity \(mean(early, \.identity)) → \(mean(late, \.identity))")

        let (a, vacancies) = Self.batch(4, microscope: false, random: &random)
        let (b, _) = Self.batch(4, microscope: true, random: &random)
        let made = model.translate(a)
        func spread(_ t: Tensor) -> Float {
            let mean = t.data.reduce(0, +) / Float(t.data.count)
            return (t.data.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(t.data.count)).squareRoot()
        }
        // The microscope's tiles have about 0.6 of the simulations' contrast; G's output is nearer it.
        #expect(
            abs(spread(made) - spread(b)) < 0.5 * abs(spread(a) - spread(b)),
            "spread: simulations \(spread(a)), microscope \(spread(b)), translated \(spread(made))")
        // Each translated tile is darker at its vacancy than at every atom around it.
        for (n, (vx, vy)) in vacancies.enumerated() {
            func at(_ x: Int, _ y: Int) -> Float { made.data[n * Self.side * Self.side + y * Self.side + x] }
            let neighbours = [(vx - 4, vy), (vx + 4, vy), (vx, vy - 4), (vx, vy + 4)].filter {
                $0.0 >= 0 && $0.0 < Self.side && $0.1 >= 0 && $0.1 < Self.side
            }
            for (x, y) in neighbours {
                #expect(
                    at(vx, vy) < at(x, y),
                    "tile \(n): vacancy at (\(vx), \(vy)) \(at(vx, vy)), atom at (\(x), \(y)) \(at(x, y))")
            }
        }
    }

    @Test("a checkpoint resumes training exactly; one of another configuration is refused")
    func checkpointResumes() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "scopepilot-gan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let checkpoint = folder.appendingPathComponent("checkpoint.safetensors")
        var random = TestRandom(seed: 67)
        let first = CycleGAN(configuration: Self.configuration, seed: 5)
        for _ in 0..<5 {
            let (a, _) = Self.batch(2, microscope: false, random: &random)
            let (b, _) = Self.batch(2, microscope: true, random: &random)
            first.step(a: a, b: b)
        }
        try first.saveCheckpoint(to: checkpoint, metadata: ["frames": "2"])
        let resumed = CycleGAN(configuration: Self.configuration, seed: 77)
        #expect(try resumed.loadCheckpoint(from: checkpoint)["frames"] == "2")
        #expect(resumed.steps == 5)
        let (a, _) = Self.batch(2, microscope: false, random: &random)
        let (b, _) = Self.batch(2, microscope: true, random: &random)
        #expect(first.step(a: a, b: b) == resumed.step(a: a, b: b))
        #expect(first.translate(a) == resumed.translate(a))

        var other = Self.configuration
        other.generator.residualBlocks = 2
        #expect(throws: SafeTensorsError.self) { try CycleGAN(configuration: other).loadCheckpoint(from: checkpoint) }
    }
}
