/// Turns a per-pixel probability map into defect coordinates, after the published procedure:
/// threshold, two passes of a 3 x 3 mean filter re-thresholded at one half (which removes isolated
/// pixels and fills small holes), connected regions, probability-weighted centroids, and greedy
/// merging of centroids closer than the cluster radius. Each defect's confidence is the largest
/// probability in its region.
public enum PeakExtraction {
    /// Peaks in `probability` (row-major, `width` x `height`).
    public static func peaks(
        _ probability: [Float], width: Int, height: Int, threshold: Float = 0.6, clusterRadius: Double = 9
    ) -> [(x: Double, y: Double, confidence: Float)] {
        precondition(probability.count == width * height, "the map must be width x height")
        var mask = probability.map { $0 > threshold }
        for _ in 0..<2 { mask = meanFilter(mask, width: width, height: height) }
        // Connected regions (8-neighbourhood), by flood fill.
        var label = [Int](repeating: -1, count: width * height)
        var regions: [(x: Double, y: Double, weight: Double, peak: Float)] = []
        for start in 0..<(width * height) where mask[start] && label[start] < 0 {
            var stack = [start]
            label[start] = regions.count
            var sx = 0.0
            var sy = 0.0
            var sw = 0.0
            var peak: Float = 0
            while let index = stack.popLast() {
                let (x, y) = (index % width, index / width)
                let w = Double(max(probability[index], 1e-6))
                sx += w * Double(x)
                sy += w * Double(y)
                sw += w
                peak = max(peak, probability[index])
                for dy in -1...1 {
                    for dx in -1...1 {
                        let (nx, ny) = (x + dx, y + dy)
                        guard nx >= 0, ny >= 0, nx < width, ny < height else { continue }
                        let neighbour = ny * width + nx
                        if mask[neighbour] && label[neighbour] < 0 {
                            label[neighbour] = regions.count
                            stack.append(neighbour)
                        }
                    }
                }
            }
            regions.append((sx / sw, sy / sw, sw, peak))
        }
        // Greedy merging, strongest first: a region within the radius of a kept one joins it.
        var kept: [(x: Double, y: Double, weight: Double, peak: Float)] = []
        for region in regions.sorted(by: { $0.peak > $1.peak }) {
            if let i = kept.firstIndex(where: {
                ($0.x - region.x) * ($0.x - region.x) + ($0.y - region.y) * ($0.y - region.y) < clusterRadius
                    * clusterRadius
            }) {
                let total = kept[i].weight + region.weight
                kept[i] = (
                    (kept[i].x * kept[i].weight + region.x * region.weight) / total,
                    (kept[i].y * kept[i].weight + region.y * region.weight) / total, total,
                    max(kept[i].peak, region.peak)
                )
            } else {
                kept.append(region)
            }
        }
        return kept.map { ($0.x, $0.y, $0.peak) }
    }

    /// A 3 x 3 mean of the mask, re-thresholded at one half (zero outside the image).
    static func meanFilter(_ mask: [Bool], width: Int, height: Int) -> [Bool] {
        var out = [Bool](repeating: false, count: mask.count)
        for y in 0..<height {
            for x in 0..<width {
                var on = 0
                for dy in -1...1 {
                    for dx in -1...1 {
                        let (nx, ny) = (x + dx, y + dy)
                        if nx >= 0, ny >= 0, nx < width, ny < height, mask[ny * width + nx] { on += 1 }
                    }
                }
                out[y * width + x] = on * 2 > 9
            }
        }
        return out
    }
}
