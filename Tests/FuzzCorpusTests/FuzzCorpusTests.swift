import Foundation
import FuzzEntryPoints
import Testing

/// The repository's root, where `Fuzz/Corpus` and the shipped files are.
private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The inputs of `target` the suite replays: its committed corpus (seeds and every input that ever
/// broke something) and, for the file readers, the files ScopePilot ships.
private func corpus(_ target: FuzzTarget) throws -> [(name: String, bytes: [UInt8])] {
    var folders = [repository.appending(path: "Fuzz/Corpus/\(target.rawValue)")]
    switch target {
    case .policyFile: folders.append(repository.appending(path: "Policies/examples"))
    case .scenario: folders.append(repository.appending(path: "Simulator/scenarios"))
    case .imageFile:
        folders += ["Tests/Fixtures/formats", "Tests/Fixtures/formats/rosettasciio"].map {
            repository.appending(path: $0)
        }
    case .frame, .control, .welcome: break
    }
    var inputs: [(name: String, bytes: [UInt8])] = []
    for folder in folders {
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        for name in names where !name.hasPrefix(".") && name != "README.md" {
            // Folders (Policies/examples/python: policy files whose scripts lie beside them, tested
            // where they can be found) are not inputs.
            var isFolder: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: folder.appending(path: name).path, isDirectory: &isFolder)
            if isFolder.boolValue { continue }
            inputs.append((name, Array(try Data(contentsOf: folder.appending(path: name)))))
        }
    }
    return inputs
}

@Suite("Fuzz corpus")
struct FuzzCorpusTests {
    @Test("the shipped policy files and scenarios are accepted", arguments: [FuzzTarget.policyFile, .scenario])
    func shippedFilesAreAccepted(_ target: FuzzTarget) throws {
        let shipped = try corpus(target).filter { $0.name.hasSuffix(".yaml") }
        #expect(shipped.count >= 3)
        for file in shipped { #expect(target.run(file.bytes).accepted, "\(file.name) is refused") }
    }

    @Test("every input of the corpus runs without a trap or a broken invariant", arguments: FuzzTarget.allCases)
    func replay(_ target: FuzzTarget) throws {
        let inputs = try corpus(target)
        #expect(inputs.count >= 3, "\(target.rawValue) has a corpus of \(inputs.count) inputs")
        for input in inputs {
            #expect(target.run(input.bytes).violations == [], "\(target.rawValue)/\(input.name)")
        }
    }

    /// `make fuzz-seeds` sets SCOPEPILOT_WRITE_FUZZ_SEEDS=1 and this test writes them.
    @Test(
        "the committed seeds are what the encoders write today",
        arguments: FuzzTarget.allCases.filter { !$0.seeds.isEmpty })
    func seedsAreCurrent(_ target: FuzzTarget) throws {
        let folder = repository.appending(path: "Fuzz/Corpus/\(target.rawValue)")
        if ProcessInfo.processInfo.environment["SCOPEPILOT_WRITE_FUZZ_SEEDS"] == "1" {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for seed in target.seeds { try Data(seed.bytes).write(to: folder.appending(path: seed.name)) }
        }
        for seed in target.seeds {
            #expect(target.run(seed.bytes) == .init(accepted: true, violations: []), "seed \(seed.name)")
            let committed = try? Data(contentsOf: folder.appending(path: seed.name))
            #expect(
                committed.map(Array.init) == seed.bytes,
                "Fuzz/Corpus/\(target.rawValue)/\(seed.name) is missing or out of date: run 'make fuzz-seeds'")
        }
    }

    @Test("the control seeds hold every message type of the protocol")
    func controlSeedsCoverTheProtocol() {
        let names = Set(FuzzTarget.control.seeds.map(\.name))
        for required in ["hello", "welcome", "ack", "reject", "done", "failed", "heartbeat", "error", "resent-frame"] {
            #expect(names.contains(required), "no \(required) seed")
        }
        #expect(names.filter { !["hello", "welcome", "ack", "reject", "done", "failed"].contains($0) }.count >= 8)
    }

    @Test("a malformed input is refused, not a violation, on every target", arguments: FuzzTarget.allCases)
    func malformedInputsAreRefusals(_ target: FuzzTarget) {
        for input in [
            "", "{", "\u{0}\u{FF}", "frame\n--part--\n{}\n--part--\n", "policy: [", String(repeating: "[", count: 5000),
        ] {
            let outcome = target.run(Array(input.utf8))
            #expect(!outcome.accepted && outcome.violations == [], "\(target.rawValue): \(input.prefix(20))")
        }
    }

    @Test("a frame whose pixels are not numbers is refused")
    func nanFrameIsRefused() throws {
        let seed = try #require(FuzzTarget.frame.seeds.first { $0.name == "float32-haadf-maadf" })
        // The last 4 bytes before the final separator are the last pixel: make it a NaN.
        var bytes = seed.bytes
        let tail = Array("\n--part--\n".utf8).count
        let nan = Float.nan.bitPattern
        for offset in 0..<4 { bytes[bytes.count - tail - 4 + offset] = UInt8(truncatingIfNeeded: nan >> (8 * offset)) }
        #expect(FuzzTarget.frame.run(bytes) == .init(accepted: false, violations: []))
        #expect(FuzzTarget.frame.run(seed.bytes) == .init(accepted: true, violations: []))
    }
}
