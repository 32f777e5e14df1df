import Foundation

/// Names from a peer (a driver's channel names, a session id) made safe to use in a path.
public enum SafeFileName {
    /// `text` with only letters, digits, `-` and `_` (others become `_`), at most 64 characters,
    /// never empty: a peer's names never make a path.
    public static func of(_ text: String) -> String {
        let kept = String(
            text.unicodeScalars.prefix(64).map {
                ($0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_"))
                    ? Character($0) : "_"
            })
        return kept.isEmpty ? "_" : kept
    }
}
