/// How a socket authenticates: plain (loopback only), or CURVE as server or client.
public enum SocketSecurity: Sendable, Hashable {
    /// No encryption or authentication. Allowed only on local endpoints.
    case plain
    /// CURVE server (the side that binds: the driver). Only clients whose public key is in
    /// `allowedClients` (Z85) get in; the ZAP authenticator of the socket's context checks them.
    case curveServer(keys: CurveKeyPair, allowedClients: Set<String>)
    /// CURVE client (the side that connects: the daemon), which also verifies the server's key.
    case curveClient(keys: CurveKeyPair, serverPublicKey: String)

    /// Whether traffic is encrypted and authenticated.
    public var isCurve: Bool {
        if case .plain = self { return false }
        return true
    }

    /// Refuses `endpoint` unless it is local or CURVE is on.
    func check(_ endpoint: Endpoint, binding: Bool) throws(TransportError) {
        guard !isCurve, !endpoint.isLocal else { return }
        let verb = binding ? "bind" : "connect to"
        throw TransportError(
            code: .insecureEndpoint,
            message:
                "refusing to \(verb) \(endpoint) without CURVE keys: it is not a loopback address, so anyone on the"
                + " network could \(binding ? "command the instrument or read its frames" : "impersonate the instrument")."
                + " Create keys with `scopepilot keys generate --out KEYS --name driver` and"
                + " `scopepilot keys generate --out KEYS --name daemon`, copy KEYS/daemon.key into the driver's"
                + " KEYS/authorized/, and pass --keys KEYS; or use a loopback address such as tcp://127.0.0.1:5555.")
    }
}
