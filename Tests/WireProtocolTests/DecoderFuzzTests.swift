import Foundation
import Testing
import WireProtocol

@Suite("Randomized decoding")
struct DecoderFuzzTests {
    /// Mutates a valid message the ways a broken driver or a noisy link would.
    static func mutate(_ parts: [[UInt8]], _ rng: inout SeededGenerator) -> [[UInt8]] {
        var parts = parts
        let rounds = Int.random(in: 1...3, using: &rng)
        for _ in 0..<rounds {
            guard !parts.isEmpty else { return parts }
            let index = Int.random(in: 0..<parts.count, using: &rng)
            var bytes = parts[index]
            switch Int.random(in: 0..<9, using: &rng) {
            case 0 where !bytes.isEmpty:  // flip a bit
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                bytes[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
            case 1 where !bytes.isEmpty:  // overwrite a byte
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            case 2 where !bytes.isEmpty:  // truncate
                bytes.removeLast(Int.random(in: 1...bytes.count, using: &rng))
            case 3:  // insert JSON-ish noise
                let noise = ["{", "}", "[", "]", "\"", ",", ":", "null", "-1", "1e308", "NaN", "true", "\u{0}", "é"]
                let token = Array(noise.randomElement(using: &rng)!.utf8)
                bytes.insert(contentsOf: token, at: Int.random(in: 0...bytes.count, using: &rng))
            case 4:  // drop a part
                parts.remove(at: index)
                continue
            case 5:  // duplicate a part
                parts.insert(bytes, at: index)
            case 6:  // swap two parts
                parts.swapAt(index, Int.random(in: 0..<parts.count, using: &rng))
                continue
            case 7 where !bytes.isEmpty:  // replace a digit, which changes numbers and sizes
                if let at = bytes.indices.filter({ (48...57).contains(bytes[$0]) }).randomElement(using: &rng) {
                    bytes[at] = UInt8.random(in: 48...57, using: &rng)
                }
            default:  // append bytes
                bytes += (0..<Int.random(in: 1...8, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            }
            parts[index] = bytes
        }
        return parts
    }

    @Test("100k mutated frame and command messages never crash the decoders")
    func mutatedMessages() throws {
        var rng = SeededGenerator(seed: 20_261_121)
        let frameSeeds: [[[UInt8]]] = try [
            Fixtures.frame(), Fixtures.frame(dtype: .float32, channels: ["HAADF", "BF"]),
        ].map { try FrameCodec.encode($0).map(\.bytes) }
        let controlSeeds: [[[UInt8]]] = try ControlCodecTests.messages.map { try ControlCodec.encode($0).map(\.bytes) }
        var decoded = 0
        var refused = 0
        var codes: Set<String> = []
        for round in 0..<100_000 {
            let isFrame = round % 2 == 0
            let seed = isFrame ? frameSeeds[round / 2 % frameSeeds.count] : controlSeeds[round / 2 % controlSeeds.count]
            let parts: [any ByteStorage] = Self.mutate(seed, &rng)
            do {
                if isFrame { _ = try FrameCodec.decode(parts) } else { _ = try ControlCodec.decode(parts) }
                decoded += 1
            } catch {
                refused += 1
                codes.insert(error.code.description)
                #expect(!error.message.isEmpty)
            }
        }
        #expect(decoded + refused == 100_000)
        // Some mutations leave a valid message (e.g. a bit flip inside a pixel); most do not.
        #expect(decoded > 0)
        #expect(refused > 50_000)
        #expect(codes.count >= 6, "error codes seen: \(codes.sorted())")
    }
}
