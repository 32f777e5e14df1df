import Foundation
import ImageIO
import ImageNumerics

/// An RGB picture of an image, for overlays a scientist reads: the image stretched to gray, with
/// marks, a legend and a scale bar drawn in a small bitmap font that scales with the image.
struct OverlayCanvas {
    let width: Int
    let height: Int
    private(set) var rgb: [UInt8]
    /// Pixels per font dot: 1 up to 512 px wide, then one more per 512 px.
    let dot: Int

    /// The image stretched to gray (0.5th to 99.5th percentile).
    init(_ image: Image) {
        width = image.width
        height = image.height
        let gray = PNGFile.stretch(image)
        var rgb = [UInt8](repeating: 0, count: gray.count * 3)
        for (i, value) in gray.enumerated() { (rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]) = (value, value, value) }
        self.rgb = rgb
        dot = max(1, (image.width + 256) / 512)
    }

    /// Sets one pixel, if it is inside.
    mutating func set(_ x: Int, _ y: Int, _ colour: [UInt8]) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let p = 3 * (y * width + x)
        (rgb[p], rgb[p + 1], rgb[p + 2]) = (colour[0], colour[1], colour[2])
    }

    /// Mixes `colour` into one pixel with `weight` (0: unchanged, 1: the colour).
    mutating func blend(_ x: Int, _ y: Int, _ colour: [UInt8], weight: Float) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let p = 3 * (y * width + x)
        for k in 0..<3 {
            rgb[p + k] = UInt8(min(255, max(0, (1 - weight) * Float(rgb[p + k]) + weight * Float(colour[k]))))
        }
    }

    /// A filled rectangle.
    mutating func fill(x: Int, y: Int, width w: Int, height h: Int, _ colour: [UInt8]) {
        for yy in max(0, y)..<min(height, y + h) {
            for xx in max(0, x)..<min(width, x + w) { set(xx, yy, colour) }
        }
    }

    /// The outline of a square of half-side `half` around (cx, cy).
    mutating func square(cx: Int, cy: Int, half: Int, _ colour: [UInt8]) {
        for d in -half...half {
            set(cx + d, cy - half, colour)
            set(cx + d, cy + half, colour)
            set(cx - half, cy + d, colour)
            set(cx + half, cy + d, colour)
        }
    }

    /// The width `text` takes, pixels.
    func textWidth(_ text: String) -> Int { text.count * 6 * dot - dot }

    /// `text` with its top-left corner at (x, y); characters the font lacks are left blank.
    mutating func text(_ text: String, x: Int, y: Int, _ colour: [UInt8] = [255, 255, 255]) {
        for (index, character) in text.enumerated() {
            guard let rows = Self.font[character] else { continue }
            for (row, bits) in rows.enumerated() {
                for column in 0..<5 where bits & (1 << (4 - column)) != 0 {
                    fill(x: x + (index * 6 + column) * dot, y: y + row * dot, width: dot, height: dot, colour)
                }
            }
        }
    }

    /// A legend in the top-left corner: a swatch and a label per entry, on a dark box.
    mutating func legend(_ entries: [(label: String, colour: [UInt8])]) {
        guard !entries.isEmpty else { return }
        let line = 10 * dot
        let margin = 4 * dot
        let boxWidth = margin * 2 + 9 * dot + (entries.map { textWidth($0.label) }.max() ?? 0)
        fill(x: margin, y: margin, width: boxWidth, height: margin + line * entries.count, [0, 0, 0])
        for (index, entry) in entries.enumerated() {
            let y = margin * 2 + index * line
            fill(x: margin * 2, y: y, width: 6 * dot, height: 7 * dot, entry.colour)
            text(entry.label, x: margin * 2 + 9 * dot, y: y)
        }
    }

    /// A scale bar in the bottom-left corner: a round length (0.1 nm to 10 µm) about a fifth of the
    /// image wide, labelled, for `pixelSize` Å per pixel.
    mutating func scaleBar(pixelSize: Double) {
        guard pixelSize > 0, pixelSize.isFinite else { return }
        let widthNm = Double(width) * pixelSize / 10
        let steps: [Double] = [1, 2, 5]
        var length = 0.1
        search: for decade in -1...4 {
            for step in steps {
                let candidate = step * pow(10, Double(decade))
                if candidate > widthNm / 4 { break search }
                length = candidate
            }
        }
        let pixels = Int((length * 10 / pixelSize).rounded())
        guard pixels >= 4 else { return }
        let label =
            length >= 1000
            ? "\(String(format: "%g", length / 1000)) um" : "\(String(format: "%g", length)) nm"
        let margin = 4 * dot
        let barHeight = 3 * dot
        let boxHeight = margin * 3 + 7 * dot + barHeight
        let boxWidth = max(pixels, textWidth(label)) + 2 * margin
        let top = height - margin - boxHeight
        fill(x: margin, y: top, width: boxWidth, height: boxHeight, [0, 0, 0])
        text(label, x: margin * 2, y: top + margin)
        fill(x: margin * 2, y: top + margin * 2 + 7 * dot, width: pixels, height: barHeight, [255, 255, 255])
    }

    /// Writes the picture as an RGB PNG.
    func write(to url: URL) throws {
        try PNGFile.write(width: width, height: height, channels: 3, pixels: rgb, to: url)
    }

    /// A 5 x 7 font of what labels need: digits, a few letters, brackets and a point.
    private static let font: [Character: [UInt8]] = [
        "0": [0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110],
        "1": [0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110],
        "2": [0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b01000, 0b11111],
        "3": [0b11110, 0b00001, 0b00001, 0b01110, 0b00001, 0b00001, 0b11110],
        "4": [0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010],
        "5": [0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110],
        "6": [0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110],
        "7": [0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000],
        "8": [0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110],
        "9": [0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100],
        ".": [0, 0, 0, 0, 0, 0b01100, 0b01100],
        "(": [0b00010, 0b00100, 0b01000, 0b01000, 0b01000, 0b00100, 0b00010],
        ")": [0b01000, 0b00100, 0b00010, 0b00010, 0b00010, 0b00100, 0b01000],
        "S": [0b01111, 0b10000, 0b10000, 0b01110, 0b00001, 0b00001, 0b11110],
        "W": [0b10001, 0b10001, 0b10001, 0b10101, 0b10101, 0b10101, 0b01010],
        "e": [0, 0, 0b01110, 0b10001, 0b11111, 0b10000, 0b01110],
        "n": [0, 0, 0b10110, 0b11001, 0b10001, 0b10001, 0b10001],
        "m": [0, 0, 0b11010, 0b10101, 0b10101, 0b10001, 0b10001],
        "u": [0, 0, 0b10001, 0b10001, 0b10001, 0b10011, 0b01101],
        "c": [0, 0, 0b01110, 0b10000, 0b10000, 0b10001, 0b01110],
        "o": [0, 0, 0b01110, 0b10001, 0b10001, 0b10001, 0b01110],
        "#": [0b01010, 0b01010, 0b11111, 0b01010, 0b11111, 0b01010, 0b01010],
    ]
}
