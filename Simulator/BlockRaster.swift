/// Evaluates slowly varying maps (region labels, mass-thickness) on a pixel grid by looking only at
/// the corners of `block` x `block` tiles, and pixel by pixel only in tiles whose corners disagree.
///
/// Regions of the sample span tens of nanometres, so at any useful block size nearly every tile is
/// uniform. A feature smaller than a tile and touching none of its corners would be missed; the
/// smallest regions of the sample are tens of tiles across.
enum BlockRaster {
    /// Labels for every pixel; `label(column, row)` is called at tile corners and inside mixed tiles.
    static func labels(width: Int, height: Int, block: Int, label: (Int, Int) -> UInt8) -> [UInt8] {
        let tilesX = (width + block - 1) / block
        let tilesY = (height + block - 1) / block
        var corners = [UInt8](repeating: 0, count: (tilesX + 1) * (tilesY + 1))
        for ty in 0...tilesY {
            for tx in 0...tilesX { corners[ty * (tilesX + 1) + tx] = label(tx * block, ty * block) }
        }
        var out = [UInt8](repeating: 0, count: width * height)
        for ty in 0..<tilesY {
            for tx in 0..<tilesX {
                let c = corners[ty * (tilesX + 1) + tx]
                let uniform =
                    c == corners[ty * (tilesX + 1) + tx + 1] && c == corners[(ty + 1) * (tilesX + 1) + tx]
                    && c == corners[(ty + 1) * (tilesX + 1) + tx + 1]
                for row in (ty * block)..<min(height, (ty + 1) * block) {
                    for column in (tx * block)..<min(width, (tx + 1) * block) {
                        out[row * width + column] = uniform ? c : label(column, row)
                    }
                }
            }
        }
        return out
    }

    /// A smooth field for every pixel: interpolated bilinearly from tile corners where the corners'
    /// labels agree, `exact(column, row)` elsewhere.
    static func field(
        width: Int, height: Int, block: Int, corner: (Int, Int) -> (label: UInt8, value: Float),
        exact: (Int, Int) -> Float
    ) -> [Float] {
        let tilesX = (width + block - 1) / block
        let tilesY = (height + block - 1) / block
        var corners = [(label: UInt8, value: Float)](repeating: (0, 0), count: (tilesX + 1) * (tilesY + 1))
        for ty in 0...tilesY {
            for tx in 0...tilesX { corners[ty * (tilesX + 1) + tx] = corner(tx * block, ty * block) }
        }
        var out = [Float](repeating: 0, count: width * height)
        let step = 1 / Float(block)
        for ty in 0..<tilesY {
            for tx in 0..<tilesX {
                let a = corners[ty * (tilesX + 1) + tx]
                let b = corners[ty * (tilesX + 1) + tx + 1]
                let c = corners[(ty + 1) * (tilesX + 1) + tx]
                let d = corners[(ty + 1) * (tilesX + 1) + tx + 1]
                let uniform = a.label == b.label && a.label == c.label && a.label == d.label
                for row in (ty * block)..<min(height, (ty + 1) * block) {
                    let fy = Float(row - ty * block) * step
                    for column in (tx * block)..<min(width, (tx + 1) * block) {
                        if uniform {
                            let fx = Float(column - tx * block) * step
                            let top = a.value + (b.value - a.value) * fx
                            let bottom = c.value + (d.value - c.value) * fx
                            out[row * width + column] = top + (bottom - top) * fy
                        } else {
                            out[row * width + column] = exact(column, row)
                        }
                    }
                }
            }
        }
        return out
    }
}
