import Foundation
import ImageIO
import Numerics
import WireProtocol

/// What the log keeps of a frame's pixels.
enum Thumbnail {
    /// Longest side of a thumbnail, pixels.
    static let side = 128

    /// The first channel, block-averaged to at most 128 pixels a side and percentile-stretched,
    /// as PNG bytes.
    static func png(_ frame: Frame) -> Data? {
        guard let buffer = frame.channels.first else { return nil }
        let factor = max(1, (max(buffer.width, buffer.height) + side - 1) / side)
        let width = buffer.width / factor
        let height = buffer.height / factor
        guard width > 0, height > 0 else { return nil }
        let pixels = buffer.floats()
        var small = [Float](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                var sum: Float = 0
                for dy in 0..<factor {
                    for dx in 0..<factor { sum += pixels[(y * factor + dy) * buffer.width + x * factor + dx] }
                }
                small[y * width + x] = sum
            }
        }
        let gray = PNGFile.stretch(Image(width: width, height: height, pixels: small))
        return Data(PNGFile.encode(width: width, height: height, channels: 1, pixels: gray))
    }

    /// Every channel's pixels as sent (little-endian), one after another.
    static func rawPixels(_ frame: Frame) -> Data {
        var data = Data()
        for buffer in frame.channels {
            buffer.storage.withUnsafeBytes { data.append(contentsOf: $0) }
        }
        return data
    }
}
