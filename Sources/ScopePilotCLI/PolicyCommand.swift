import ArgumentParser
import BuiltInPolicies
import Foundation
import PolicyHost
import PolicyKit
import Transport

/// `scopepilot policy`: policy files and the built-in policies.
struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy", abstract: "Check policy files, list the built-in policies, compare policies.",
        subcommands: [Check.self, List.self, Eval.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate policy files: every key, value and range, with errors at file:line.",
            discussion: """
                A Python policy (policy: python) is also started as a session would start it: the \
                script imported, the class made with the file's parameters, then ended. Its own \
                error and traceback are printed when that fails.
                """)
        @Argument(help: "Policy files (YAML).") var files: [String]

        func run() async throws {
            var failed = 0
            for file in files {
                do {
                    let loaded = try PolicyFile.load(URL(fileURLWithPath: file), factories: BuiltInPolicies.factories)
                    if let spec = loaded.policy.external {
                        let identity = try await Self.start(spec, envelope: loaded.envelope)
                        print(
                            "\(file): ok: \(identity.name) \(identity.version), class \(spec.className) in \(spec.script) "
                                + "(\(spec.executable.path)); wants \(identity.wants.joined(separator: ", "))")
                    } else {
                        print("\(file): ok: \(loaded.policy.name) \(loaded.policy.version)")
                    }
                    for (key, value) in loaded.policy.parameters.sorted(by: { $0.key < $1.key }) {
                        print("  \(key) = \(value)")
                    }
                    print("  " + Self.describe(loaded.envelope))
                    print("  " + Self.describe(loaded.stop))
                } catch let error as ExternalPolicyError {
                    failed += 1
                    FileHandle.standardError.write(Data("\(file): \(error)\n".utf8))
                } catch {
                    failed += 1
                    FileHandle.standardError.write(Data("\(error)\n".utf8))
                }
            }
            if failed > 0 { throw ExitCode(1) }
        }

        /// Starts the policy's process as a session would, and ends it.
        static func start(
            _ spec: ExternalPolicySpec, envelope: SafetyEnvelope
        ) async throws -> ExternalPolicyHost.Identity {
            let host = try await ExternalPolicyHost(spec, context: try ZMQContext())
            do {
                let identity = try await host.start(session: "policy-check", envelope: envelope)
                _ = await host.stop(reason: "policy check: the policy starts")
                return identity
            } catch {
                _ = await host.stop(reason: "policy check: \(error.message)")
                throw error
            }
        }

        static func describe(_ e: SafetyEnvelope) -> String {
            "envelope: stage x \(e.stageX.lowerBound)...\(e.stageX.upperBound) nm, y \(e.stageY.lowerBound)...\(e.stageY.upperBound) nm, "
                + "step ≤ \(e.maximumStep) nm, fov \(e.fov.lowerBound)...\(e.fov.upperBound) nm, "
                + "dwell \(e.dwell.lowerBound)...\(e.dwell.upperBound) µs, \(e.pixels.lowerBound)...\(e.pixels.upperBound) px, "
                + "≤ \(e.dosePerArea) e/Å² per area, ≤ \(e.dosePerSession) e per session, "
                + "≤ \(e.commandsPerMinute) commands/min, ≤ \(e.referenceFrames) reference frames"
        }

        static func describe(_ s: StopConditions) -> String {
            let parts = [
                s.frames.map { "\($0) frames" }, s.minutes.map { "\($0) minutes" },
                s.electrons.map { "\($0) electrons" },
                s.defects.map { "\($0) defects" },
            ].compactMap { $0 }
            return "stop: " + (parts.isEmpty ? "when the policy ends the session" : parts.joined(separator: ", "))
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The built-in policies.")
        func run() {
            for factory in BuiltInPolicies.factories {
                print("\(factory.name.padding(toLength: 20, withPad: " ", startingAt: 0)) \(factory.summary)")
            }
        }
    }
}
