import Foundation

/// A one-line progress bar on standard error, redrawn in place; silent when standard error is not
/// a terminal, so logs and pipes get only the per-epoch lines.
final class ProgressBar {
    private let enabled: Bool
    private let width = 30

    init(enabled: Bool) { self.enabled = enabled }

    /// Draws `label [#####.....] detail` for `fraction` in 0 ... 1.
    func show(fraction: Double, label: String, detail: String) {
        guard enabled else { return }
        let filled = Int((min(max(fraction, 0), 1) * Double(width)).rounded())
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(detail)\u{1B}[K".utf8))
    }

    /// Erases the bar so that a normal line can take its place.
    func clear() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
