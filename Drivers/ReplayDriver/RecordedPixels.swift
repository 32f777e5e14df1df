import DecisionLog
import Foundation
import ImageIO
import ImageNumerics
import WireProtocol

/// A recorded frame's pixels, read: every channel's values with the type they are served as.
struct RecordedPixels: Sendable {
    let width: Int
    let height: Int
    /// 16-bit counts when every value of every channel is a whole number in 0...65535 (what a
    /// driver's uint16 frame comes back as), float32 otherwise.
    let dtype: PixelType
    /// One array per channel, row-major.
    let channels: [[Float]]

    /// Reads the pixels of `frame`, checking they match its scan.
    static func read(_ frame: RecordedFrame) throws(ReplayError) -> RecordedPixels {
        let width = frame.scan.width
        let height = frame.scan.height
        var channels: [[Float]] = []
        switch frame.pixels {
        case .files(let urls, let page):
            for url in urls {
                let image: ImageNumerics.Image
                do {
                    let pages = try ImageFile.contents(of: url).frames
                    guard page < pages.count else {
                        throw ReplayError("\(url.path) has \(pages.count) pages; \(frame.source) is page \(page + 1)")
                    }
                    image = pages[page]
                } catch let error as ReplayError {
                    throw error
                } catch {
                    throw ReplayError("cannot read the pixels of \(frame.source): \(error)")
                }
                guard image.width == width, image.height == height else {
                    throw ReplayError(
                        "\(url.path) is \(image.width) x \(image.height) pixels but \(frame.source) was recorded at "
                            + "\(width) x \(height)")
                }
                channels.append(image.pixels)
            }
        case .logBlob(let path, let id):
            let blob: Data?
            do { blob = try DecisionLog(readingFrom: path).pixels(frame: id) } catch {
                throw ReplayError("cannot read the pixels of \(frame.source) from \(path): \(error)")
            }
            guard let blob, !blob.isEmpty else {
                throw ReplayError("\(frame.source) has no pixels kept in \(path)")
            }
            let count = width * height * frame.channels.count
            let bytes = [UInt8](blob)
            if bytes.count == count * 2 {
                let all = (0..<count).map { Float(UInt16(bytes[2 * $0]) | UInt16(bytes[2 * $0 + 1]) << 8) }
                channels = (0..<frame.channels.count).map {
                    Array(all[($0 * width * height)..<(($0 + 1) * width * height)])
                }
            } else if bytes.count == count * 4 {
                let all = (0..<count).map { index -> Float in
                    let b = bytes[(4 * index)..<(4 * index + 4)].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                    return Float(bitPattern: b)
                }
                channels = (0..<frame.channels.count).map {
                    Array(all[($0 * width * height)..<(($0 + 1) * width * height)])
                }
            } else {
                throw ReplayError(
                    "the pixels kept for \(frame.source) are \(bytes.count) bytes, not \(width) x \(height) x "
                        + "\(frame.channels.count) channels of 2 or 4 bytes")
            }
        }
        let counts = channels.allSatisfy { values in
            values.allSatisfy { $0 >= 0 && $0 <= 65535 && $0 == $0.rounded(.towardZero) }
        }
        return RecordedPixels(width: width, height: height, dtype: counts ? .uint16 : .float32, channels: channels)
    }

    /// The rectangle of `columns` x `rows` recorded pixels from (`left`, `top`), summed over
    /// `bin` x `bin` blocks: a larger pixel collects the electrons of the pixels it covers.
    func cropped(left: Int, top: Int, columns: Int, rows: Int, bin: Int) -> RecordedPixels {
        let outWidth = columns / bin
        let outHeight = rows / bin
        let out = channels.map { values -> [Float] in
            var result = [Float](repeating: 0, count: outWidth * outHeight)
            for row in 0..<(outHeight * bin) {
                let source = (top + row) * width + left
                let target = (row / bin) * outWidth
                for column in 0..<(outWidth * bin) { result[target + column / bin] += values[source + column] }
            }
            return result
        }
        let fits = dtype == .uint16 && out.allSatisfy { $0.allSatisfy { $0 <= 65535 } }
        return RecordedPixels(width: outWidth, height: outHeight, dtype: fits ? .uint16 : .float32, channels: out)
    }

    /// The channels `names` (of `all`, the recorded names) as wire buffers.
    func buffers(_ names: [String], of all: [String]) throws -> [PixelBuffer] {
        try names.map { name in
            let values = channels[all.firstIndex(of: name) ?? 0]
            switch dtype {
            case .uint16:
                return try PixelBuffer(uint16: values.map { UInt16($0) }, width: width, height: height)
            default:
                return try PixelBuffer(float32: values, width: width, height: height)
            }
        }
    }
}
