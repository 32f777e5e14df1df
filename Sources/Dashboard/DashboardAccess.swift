/// Who may read the live view. On loopback anyone on this machine may (the page only reads);
/// on any other address every request must carry the token printed at start, as `?token=`.
public struct DashboardAccess: Sendable {
    /// The token requests must carry (nil: none needed, loopback).
    public let token: String?

    /// Access for a server at `address`: a fresh random token unless it is loopback.
    public init(for address: DashboardAddress) {
        token = address.isLoopback ? nil : Self.randomToken()
    }

    /// Access with a given token (nil: open).
    init(token: String?) { self.token = token }

    /// Whether a request presenting `presented` (its `token` query parameter) may read.
    public func permits(_ presented: String?) -> Bool {
        guard let token else { return true }
        guard let presented else { return false }
        // Compared in constant time: the time taken says nothing about how much matched.
        let (a, b) = (Array(token.utf8), Array(presented.utf8))
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<min(a.count, b.count) { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    /// 128 random bits as hex.
    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in
            let word = String(UInt32.random(in: 0...UInt32.max, using: &generator), radix: 16)
            return String(repeating: "0", count: 8 - word.count) + word
        }.joined()
    }
}
