import BuiltInPolicies
import Foundation
import ImageIO
import ImageNumerics
import PolicyKit
import Simulator
import WireProtocol
import YAMLConfig

/// The readers of the files a user writes, and what their callers do with a file they accepted.
enum FileInputs {
    /// Limits of a typical instrument, which a policy file's envelope is narrowed to.
    static let limits = InstrumentLimits(
        stageX: -50_000...50_000, stageY: -50_000...50_000, fov: 0.5...5000, dwell: 0.1...1000, pixels: 16...4096,
        detectors: ["HAADF", "MAADF"])

    /// A policy file: refused with a located error, or accepted and then asked for its first
    /// decisions within its envelope narrowed to the instrument's limits.
    static func policyFile(_ text: String) -> FuzzOutcome {
        let file: PolicyFile
        do {
            file = try PolicyFile.parse(text, file: "fuzz.yaml", factories: BuiltInPolicies.factories)
        } catch {
            var violations: [String] = []
            if error.message.isEmpty { violations.append("a refusal without a message") }
            if error.line < 0 || error.column < 0 { violations.append("a refusal at line \(error.line)") }
            return .refused(violations)
        }
        _ = file.stop.reached(frames: 0, elapsed: 0, map: SessionMap())
        _ = "\(file.envelope) \(String(describing: file.retraining))"
        guard let policy = file.policy.builtIn else {
            // An external policy is not started by a fuzz run; its spec must name what it needs.
            guard let spec = file.policy.external else { return .accepted(["neither built-in nor external"]) }
            return .accepted(
                spec.script.isEmpty || spec.className.isEmpty ? ["an external policy without a script"] : [])
        }
        return .accepted(PolicyRun.decisions(of: policy, within: file.envelope.narrowed(to: limits), steps: 4))
    }

    /// A scenario file: refused with a located error, or accepted and then a 16 x 16 scan of its
    /// sample under each of its condition sets in turn, whose pixels must be numbers.
    static func scenario(_ text: String) -> FuzzOutcome {
        let scenario: Scenario
        do {
            scenario = try Scenario.parse(text, file: "fuzz.yaml")
        } catch {
            return .refused(error.message.isEmpty ? ["a refusal without a message"] : [])
        }
        let microscope = VirtualMicroscope(scenario: scenario)
        let scan = ScanGeometry(
            centerX: scenario.layout.flakeCenterX, centerY: scenario.layout.flakeCenterY, fovX: 2, width: 16,
            height: 16, dwell: 1)
        var violations: [String] = []
        for set in [nil] + scenario.conditions.prefix(3).map(Optional.some) {
            if let set { microscope.advance(by: min(max(set.start - microscope.clock, 0), 3600)) }
            let frame = microscope.acquire(scan)
            for (name, image) in frame.channels where !image.pixels.allSatisfy(\.isFinite) {
                violations.append("channel \(name) has pixels that are not numbers under '\(set?.name ?? "start")'")
            }
        }
        return .accepted(violations)
    }

    /// An image file, by its first bytes as the readers recognise them: refused with a reason, or
    /// accepted with at least one frame whose pixels fill its size, and a calibration that is a
    /// plausible length.
    static func imageFile(_ bytes: [UInt8]) -> FuzzOutcome {
        let contents: ImageFileContents
        do {
            switch bytes.prefix(4) {
            case [0x49, 0x49, 42, 0], [0x4D, 0x4D, 0, 42], [0x49, 0x49, 43, 0], [0x4D, 0x4D, 0, 43]:
                contents = try TIFFFile.decodeContents(bytes)
            case [0x89, 0x50, 0x4E, 0x47]:
                contents = ImageFileContents(frames: [try PNGFile.decode(bytes)], calibration: nil)
            case [0x93, 0x4E, 0x55, 0x4D]:
                contents = ImageFileContents(frames: [try NumpyFile.decode(Data(bytes))], calibration: nil)
            default:
                contents = try DigitalMicrographFile.decode(bytes)
            }
        } catch {
            return .refused(error.problem.isEmpty ? ["a refusal without a reason"] : [])
        }
        var violations: [String] = []
        for (index, frame) in contents.frames.enumerated()
        where frame.width <= 0 || frame.height <= 0 || frame.pixels.count != frame.width * frame.height {
            violations.append(
                "frame \(index + 1) is \(frame.width) x \(frame.height) with \(frame.pixels.count) pixels")
        }
        if let size = contents.frames.first.map({ ($0.width, $0.height) }),
            contents.frames.contains(where: { ($0.width, $0.height) != size })
        {
            violations.append("a series of frames of different sizes")
        }
        if let calibration = contents.calibration, !(calibration.angstrom > 0 && calibration.angstrom.isFinite) {
            violations.append("a calibration of \(calibration.angstrom) Å")
        }
        return .accepted(violations)
    }
}
