import Foundation

/// One input surface of ScopePilot that a careless or hostile peer or file can reach, as a
/// libFuzzer target (`Fuzz/`) and as a replay of its corpus in the test suite.
///
/// Running an input decodes or parses it as the daemon, a driver or the CLI would, and, when it is
/// accepted, goes on as they do with what was accepted (re-encoding, narrowing the envelope,
/// asking a policy for decisions, scanning the virtual microscope). A trap ends the process, as it
/// would end the daemon; a broken invariant is returned as a violation.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// Frame-feed messages: `[topic, header JSON, pixel parts]`.
    case frame
    /// Command-channel messages, either way, including re-sent frames.
    case control
    /// What the daemon does with a driver's answer to HELLO: the WELCOME's limits narrow the
    /// envelope and a policy's first decisions are checked against it.
    case welcome
    /// Policy files (YAML) as `scopepilot run --policy` reads them, with the built-in policies.
    case policyFile = "policy-file"
    /// Scenario files (YAML) as `scopepilot sim --scenario` reads them, then a small scan.
    case scenario
    /// Image files as `scopepilot detect` reads them: TIFF, PNG, NumPy and DigitalMicrograph.
    case imageFile = "image-file"

    /// Runs one input: whether it was accepted, and the invariants it broke.
    public func run(_ input: UnsafeRawBufferPointer) -> FuzzOutcome {
        switch self {
        case .frame: WireInputs.frame(MessageParts.split(input))
        case .control: WireInputs.control(MessageParts.split(input))
        case .welcome: WireInputs.welcome(MessageParts.split(input))
        case .policyFile: FileInputs.policyFile(String(decoding: input, as: UTF8.self))
        case .scenario: FileInputs.scenario(String(decoding: input, as: UTF8.self))
        case .imageFile: FileInputs.imageFile(Array(input))
        }
    }

    /// Runs one input given as bytes.
    public func run(_ input: [UInt8]) -> FuzzOutcome {
        input.withUnsafeBytes { run($0) }
    }

    /// The libFuzzer entry point's body: runs the input and stops the process on a violation, so
    /// that libFuzzer keeps the input that broke it.
    public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
        let violations = run(UnsafeRawBufferPointer(start: start, count: count)).violations
        if !violations.isEmpty {
            FileHandle.standardError.write(Data(("\(rawValue): " + violations.joined(separator: "; ") + "\n").utf8))
            abort()
        }
        return 0
    }

    /// Inputs to start fuzzing from, by file name: valid messages and files of every kind.
    public var seeds: [(name: String, bytes: [UInt8])] {
        switch self {
        case .frame: SeedCorpus.frames
        case .control: SeedCorpus.controlMessages
        case .welcome: SeedCorpus.welcomes
        case .policyFile, .scenario, .imageFile: []  // the shipped and fixture files are the seeds: see Fuzz/README.md
        }
    }
}
