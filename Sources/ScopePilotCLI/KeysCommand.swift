import ArgumentParser
import Foundation
import Transport

/// `scopepilot keys`: CURVE key management.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Manage the CURVE keys that authenticate daemon and driver.",
        subcommands: [Generate.self])

    /// `scopepilot keys generate`.
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a new CURVE key pair: NAME.key (public) and NAME.key_secret (secret, mode 0600).",
            discussion: """
                The files use ZeroMQ's certificate format, which pyzmq's zmq.auth.load_certificate reads. \
                Typical set-up: generate 'driver' and 'daemon' pairs; give the daemon driver.key; put \
                daemon.key in the driver's KEYS/authorized/ folder (the allow-list).
                """)

        @Option(name: .long, help: "Folder to write the key files into (created if missing).")
        var out: String

        @Option(name: .long, help: "Base name of the key files, e.g. daemon or driver.")
        var name: String

        func validate() throws {
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                throw ValidationError("--name must be letters, digits, '-' or '_' (got '\(name)')")
            }
        }

        func run() throws {
            let keys = try CurveKeyPair.generate()
            let (publicURL, secretURL) = try CurveCertificate.write(
                keys, name: name, directory: URL(fileURLWithPath: out, isDirectory: true))
            print("public key: \(keys.publicKey)")
            print("wrote \(publicURL.path) (share it) and \(secretURL.path) (keep it secret, mode 0600)")
        }
    }
}
