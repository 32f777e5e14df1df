import Foundation
import ImageIO
import ImageNumerics
import WireProtocol

/// What the log keeps of a frame's pixels.
enum Thumbnail {
    /// Longest side of a thumbnail, pixels.
    static let side = 128

    /// The first channel, block-averaged to at most 128 pixels a side and percentile-stretched,
    /// as PNG bytes.
    static func png(_ frame: Frame) -> Data? {
        guard let buffer = frame.channels.first, buffer.width > 0, buffer.height > 0 else { return nil }
        let small = Image(width: buffer.width, height: buffer.height, pixels: buffer.floats()).blockAveraged(
            toAtMost: side)
        let (width, height) = (small.width, small.height)
        let gray = PNGFile.stretch(small)
        return Data(PNGFile.encode(width: width, height: height, channels: 1, pixels: gray))
    }
}
