import Foundation
import NeuralNetwork
import Testing

@Suite("safetensors")
struct SafeTensorsTests {
    static func temporary(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-\(UUID().uuidString)-\(name)")
    }

    @Test("files written here load in the safetensors package, and files it writes load here")
    func interop() async throws {
        let mine = Self.temporary("mine.safetensors")
        let theirs = Self.temporary("theirs.safetensors")
        defer {
            try? FileManager.default.removeItem(at: mine)
            try? FileManager.default.removeItem(at: theirs)
        }
        let conv = Conv2D(inChannels: 2, outChannels: 3, kernel: 3, seed: 8)
        try SafeTensors.save(
            ["enc.0.weight": conv.weight, "enc.0.bias": conv.bias], metadata: ["architecture": "test"], to: mine)
        let probe = conv.weight.value[1 * 18 + 2 * 3 + 1]  // element [1, 0, 2, 1]
        try await ReferenceOutputTests.runNumpy(
            """
            from safetensors.numpy import load_file, save_file
            from safetensors import safe_open
            import numpy as np
            t = load_file('\(mine.path)')
            assert t['enc.0.weight'].shape == (3, 2, 3, 3) and t['enc.0.weight'].dtype == np.float32
            assert abs(float(t['enc.0.weight'][1, 0, 2, 1]) - (\(probe))) < 1e-6
            with safe_open('\(mine.path)', framework='numpy') as f:
                assert f.metadata() == {'architecture': 'test'}
            save_file({'w': (np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 0.5), 'b': np.ones(3, np.float32)}, '\(theirs.path)', metadata={'from': 'python'})
            """)
        let (tensors, metadata) = try SafeTensors.read(theirs)
        #expect(metadata == ["from": "python"])
        #expect(tensors["w"]?.shape == [2, 3, 4])
        #expect(tensors["w"]?.values == (0..<24).map { Float($0) * 0.5 })
        #expect(tensors["b"]?.values == [1, 1, 1])
    }

    @Test("loading checks names and shapes and says what does not match")
    func loadChecks() throws {
        let url = Self.temporary("model.safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        let conv = Conv2D(inChannels: 2, outChannels: 3, kernel: 3, seed: 8)
        try SafeTensors.save(["c.weight": conv.weight, "c.bias": conv.bias], to: url)
        let copy = Conv2D(inChannels: 2, outChannels: 3, kernel: 3, seed: 99)
        try SafeTensors.load(url, into: ["c.weight": copy.weight, "c.bias": copy.bias])
        #expect(copy.weight.value == conv.weight.value)
        let other = Conv2D(inChannels: 2, outChannels: 4, kernel: 3)
        #expect {
            try SafeTensors.load(url, into: ["c.weight": other.weight, "c.bias": other.bias])
        } throws: { ($0 as? SafeTensorsError)?.problem.contains("shape") == true }
        #expect {
            try SafeTensors.load(url, into: ["c.weight": copy.weight])
        } throws: { ($0 as? SafeTensorsError)?.problem.contains("unexpected [\"c.bias\"]") == true }
        try Data("garbage!".utf8).write(to: url)
        #expect(throws: SafeTensorsError.self) { try SafeTensors.read(url) }
    }
}
