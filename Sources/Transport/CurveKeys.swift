import CZeroMQ
public import Foundation

/// A CURVE key pair, both keys in Z85 text (40 characters each).
public struct CurveKeyPair: Sendable, Hashable {
    /// The public key: give it to peers.
    public let publicKey: String
    /// The secret key: never leaves this machine.
    public let secretKey: String

    /// Wraps existing keys, checking that they are Z85 CURVE keys and belong together.
    public init(publicKey: String, secretKey: String) throws(TransportError) {
        guard CurveKeyPair.isKey(publicKey), CurveKeyPair.isKey(secretKey) else {
            throw TransportError(code: .keys, message: "CURVE keys must be 40 characters of Z85 text")
        }
        var derived = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&derived, secretKey) == 0,
            String(decoding: derived.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self) == publicKey
        else {
            throw TransportError(code: .keys, message: "the public key does not belong to the secret key")
        }
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// A new random key pair.
    public static func generate() throws(TransportError) -> CurveKeyPair {
        guard ZMQContext.hasCurve else {
            throw TransportError(code: .keys, message: "this libzmq was built without CURVE support")
        }
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicKey, &secretKey) == 0 else { throw .zmq("generating a CURVE key pair") }
        func text(_ chars: [CChar]) -> String {
            String(decoding: chars.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return try CurveKeyPair(publicKey: text(publicKey), secretKey: text(secretKey))
    }

    /// Whether `text` is 40 characters of the Z85 alphabet.
    public static func isKey(_ text: String) -> Bool {
        let alphabet = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#")
        return text.count == 40 && text.allSatisfy { alphabet.contains($0) }
    }

    /// The 32 raw bytes of a Z85 key.
    static func rawKey(_ z85: String) -> [UInt8]? {
        guard isKey(z85) else { return nil }
        var out = [UInt8](repeating: 0, count: 32)
        return zmq_z85_decode(&out, z85) == nil ? nil : out
    }

    /// The Z85 text of 32 raw key bytes.
    static func z85(_ raw: [UInt8]) -> String? {
        guard raw.count == 32 else { return nil }
        var out = [CChar](repeating: 0, count: 41)
        guard zmq_z85_encode(&out, raw, 32) != nil else { return nil }
        return String(decoding: out.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Reads and writes CURVE certificates in ZeroMQ's ZPL format, the format pyzmq's
/// `zmq.auth.create_certificates` writes and `zmq.auth.load_certificate` reads:
/// `NAME.key` holds the public key, `NAME.key_secret` both keys.
public enum CurveCertificate {
    /// Writes `NAME.key` and `NAME.key_secret` (mode 0600) into `directory`, refusing to overwrite.
    /// Returns the two paths.
    @discardableResult
    public static func write(
        _ keys: CurveKeyPair, name: String, directory: URL
    ) throws(TransportError) -> (public: URL, secret: URL) {
        let publicURL = directory.appendingPathComponent("\(name).key")
        let secretURL = directory.appendingPathComponent("\(name).key_secret")
        let manager = FileManager.default
        for url in [publicURL, secretURL] where manager.fileExists(atPath: url.path) {
            throw TransportError(
                code: .keys, message: "\(url.path) already exists; remove it or choose another --name")
        }
        let stamp = ISO8601DateFormatter().string(from: Date())
        func text(_ kind: String, secret: Bool) -> String {
            var lines = [
                "#   ****  Generated on \(stamp) by scopepilot  ****",
                "#   ZeroMQ CURVE \(kind) Certificate",
                secret
                    ? "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions."
                    : "#   Exchange securely, or use a secure mechanism to verify the contents of this file.",
                "",
                "metadata",
                "curve",
                "    public-key = \"\(keys.publicKey)\"",
            ]
            if secret { lines.append("    secret-key = \"\(keys.secretKey)\"") }
            return lines.joined(separator: "\n") + "\n"
        }
        do {
            try manager.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data(text("**Public**", secret: false).utf8).write(to: publicURL)
            guard
                manager.createFile(
                    atPath: secretURL.path, contents: Data(text("**Secret**", secret: true).utf8),
                    attributes: [.posixPermissions: 0o600])
            else { throw CocoaError(.fileWriteUnknown) }
        } catch let error as TransportError {
            throw error
        } catch {
            throw TransportError(
                code: .keys, message: "cannot write keys into \(directory.path): \(error.localizedDescription)")
        }
        return (publicURL, secretURL)
    }

    /// Reads a certificate: the public key, and the secret key when the file has one.
    public static func read(_ url: URL) throws(TransportError) -> (publicKey: String, secretKey: String?) {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw TransportError(
                code: .keys,
                message: "cannot read key file \(url.path): \(error.localizedDescription)."
                    + " Create keys with: scopepilot keys generate --out DIR --name NAME")
        }
        func value(_ key: String) -> String? {
            for line in text.split(whereSeparator: \.isNewline) {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                guard trimmed.hasPrefix(key) else { continue }
                let rest = trimmed.dropFirst(key.count).trimmingCharacters(in: .whitespaces)
                guard rest.hasPrefix("=") else { continue }
                return rest.dropFirst().trimmingCharacters(in: .whitespaces).trimmingCharacters(
                    in: CharacterSet(charactersIn: "\"'"))
            }
            return nil
        }
        guard let publicKey = value("public-key"), CurveKeyPair.isKey(publicKey) else {
            throw TransportError(
                code: .keys, message: "\(url.path) has no valid public-key line (40 Z85 characters in quotes)")
        }
        let secretKey = value("secret-key")
        if let secretKey, !CurveKeyPair.isKey(secretKey) {
            throw TransportError(code: .keys, message: "\(url.path) has a malformed secret-key line")
        }
        return (publicKey, secretKey)
    }

    /// Reads a key pair from a `NAME.key_secret` file.
    public static func readKeyPair(_ url: URL) throws(TransportError) -> CurveKeyPair {
        let (publicKey, secretKey) = try read(url)
        guard let secretKey else {
            throw TransportError(
                code: .keys, message: "\(url.path) holds no secret key; pass the NAME.key_secret file, not NAME.key")
        }
        return try CurveKeyPair(publicKey: publicKey, secretKey: secretKey)
    }

    /// The public keys of every `*.key` file in `directory`: an allow-list of clients.
    public static func readAllowList(_ directory: URL) throws(TransportError) -> Set<String> {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw TransportError(
                code: .keys,
                message: "cannot list allowed client keys in \(directory.path): \(error.localizedDescription)")
        }
        var keys: Set<String> = []
        for name in names.sorted() where name.hasSuffix(".key") {
            keys.insert(try read(directory.appendingPathComponent(name)).publicKey)
        }
        return keys
    }
}
