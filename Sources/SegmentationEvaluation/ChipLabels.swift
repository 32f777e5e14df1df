public import Segmentation

/// Ground truth per chip: the region most of a chip's pixels belong to.
public enum ChipLabels {
    /// The majority region of every chip of `grid` in a per-pixel region map of `width` columns
    /// (ties go to the lower index).
    public static func majority(_ map: [Int], width: Int, grid: ChipGrid) -> [Int] {
        let kinds = (map.max() ?? 0) + 1
        return (0..<grid.count).map { chip in
            let (x0, y0) = grid.origin(of: chip)
            var counts = [Int](repeating: 0, count: kinds)
            for y in y0..<(y0 + grid.chipSize) {
                for x in x0..<(x0 + grid.chipSize) { counts[map[y * width + x]] += 1 }
            }
            return counts.indices.max { counts[$0] < counts[$1] || (counts[$0] == counts[$1] && $0 > $1) } ?? 0
        }
    }

    /// `labels` with every kind in `merged` replaced by the first of them.
    public static func merging(_ labels: [Int], _ merged: Set<Int>) -> [Int] {
        guard let target = merged.min() else { return labels }
        return labels.map { merged.contains($0) ? target : $0 }
    }
}
