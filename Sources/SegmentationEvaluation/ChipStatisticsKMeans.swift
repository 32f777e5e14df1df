import Foundation
public import ImageNumerics
public import Segmentation

/// The baseline a chip segmentation must beat: k-means on three simple statistics of every chip
/// of every channel (mean, standard deviation and mean gradient magnitude), standardised over the
/// session, told the true number of regions.
///
/// It knows what the unsupervised method cannot (how many kinds of area there are), so beating it
/// says the descriptors and the graph carry more than a few numbers per chip.
public enum ChipStatisticsKMeans {
    /// The three statistics of every chip of `grid` in every channel, chip after chip.
    public static func statistics(_ channels: [Image], grid: ChipGrid) -> [[Double]] {
        (0..<grid.count).map { chip in
            let (x0, y0) = grid.origin(of: chip)
            var row: [Double] = []
            for image in channels {
                var sum = 0.0
                var squares = 0.0
                var gradient = 0.0
                let n = Double(grid.chipSize * grid.chipSize)
                for y in y0..<(y0 + grid.chipSize) {
                    for x in x0..<(x0 + grid.chipSize) {
                        let v = Double(image[x, y])
                        sum += v
                        squares += v * v
                        let dx = x + 1 < image.width ? Double(image[x + 1, y]) - v : 0
                        let dy = y + 1 < image.height ? Double(image[x, y + 1]) - v : 0
                        gradient += (dx * dx + dy * dy).squareRoot()
                    }
                }
                let mean = sum / n
                row += [mean, max(0, squares / n - mean * mean).squareRoot(), gradient / n]
            }
            return row
        }
    }

    /// Cluster indices for `rows` into `k` clusters: standardised columns, k-means++ seeding, the
    /// best of `restarts` runs by within-cluster sum of squares.
    public static func cluster(_ rows: [[Double]], k: Int, restarts: Int = 10, seed: UInt64 = 1) -> [Int] {
        guard let width = rows.first?.count, k > 1, rows.count > k else { return rows.map { _ in 0 } }
        // Standardise each column over all chips.
        var data = rows
        for column in 0..<width {
            let values = rows.map { $0[column] }
            let mean = values.reduce(0, +) / Double(values.count)
            let sd = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
            for i in data.indices { data[i][column] = sd > 0 ? (data[i][column] - mean) / sd : 0 }
        }
        func distance(_ a: [Double], _ b: [Double]) -> Double {
            var d = 0.0
            for i in a.indices { d += (a[i] - b[i]) * (a[i] - b[i]) }
            return d
        }
        var random = SplitMix64(seed: seed)
        var best: (cost: Double, labels: [Int]) = (.infinity, [])
        for _ in 0..<restarts {
            var centres = [data[Int(random.next() % UInt64(data.count))]]
            while centres.count < k {
                let d = data.map { row in centres.map { distance(row, $0) }.min() ?? 0 }
                let total = d.reduce(0, +)
                var pick = Double(random.next() % 1_000_000) / 1_000_000 * total
                var chosen = data.count - 1
                for (i, value) in d.enumerated() {
                    pick -= value
                    if pick <= 0 {
                        chosen = i
                        break
                    }
                }
                centres.append(data[chosen])
            }
            var labels = [Int](repeating: 0, count: data.count)
            for _ in 0..<100 {
                let next = data.map { row in
                    centres.indices.min { distance(row, centres[$0]) < distance(row, centres[$1]) } ?? 0
                }
                let changed = next != labels
                labels = next
                for c in 0..<k {
                    let members = data.indices.filter { labels[$0] == c }
                    guard !members.isEmpty else { continue }
                    centres[c] = (0..<width).map { column in
                        members.map { data[$0][column] }.reduce(0, +) / Double(members.count)
                    }
                }
                if !changed { break }
            }
            let cost = data.indices.map { distance(data[$0], centres[labels[$0]]) }.reduce(0, +)
            if cost < best.cost { best = (cost, labels) }
        }
        return best.labels
    }
}
