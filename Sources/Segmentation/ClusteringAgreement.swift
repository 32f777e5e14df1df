import Foundation

/// How well two labellings of the same items agree, whatever the label numbers.
public enum ClusteringAgreement {
    /// The adjusted Rand index (Hubert and Arabie 1985): 1 for identical partitions, about 0 for
    /// chance agreement, negative for worse than chance.
    public static func adjustedRandIndex(_ a: [Int], _ b: [Int]) -> Double {
        precondition(a.count == b.count, "labellings of different lengths")
        let n = a.count
        guard n > 1 else { return 1 }
        let table = contingency(a, b)
        func pairs(_ x: Int) -> Double { Double(x) * Double(x - 1) / 2 }
        let index = table.cells.reduce(0) { $0 + pairs($1) }
        let rows = table.rows.reduce(0) { $0 + pairs($1) }
        let columns = table.columns.reduce(0) { $0 + pairs($1) }
        let expected = rows * columns / pairs(n)
        let maximum = (rows + columns) / 2
        guard maximum != expected else { return 1 }
        return (index - expected) / (maximum - expected)
    }

    /// Normalised mutual information, arithmetic-mean normalisation (as scikit-learn's default):
    /// 1 for identical partitions, 0 for independent ones.
    public static func normalisedMutualInformation(_ a: [Int], _ b: [Int]) -> Double {
        precondition(a.count == b.count, "labellings of different lengths")
        let n = Double(a.count)
        guard n > 0 else { return 1 }
        let table = contingency(a, b)
        func entropy(_ counts: [Int]) -> Double {
            counts.reduce(0) { $0 - ($1 > 0 ? Double($1) / n * log(Double($1) / n) : 0) }
        }
        let ha = entropy(table.rows)
        let hb = entropy(table.columns)
        guard ha > 0 || hb > 0 else { return 1 }
        var mutual = 0.0
        let width = table.columns.count
        for (index, count) in table.cells.enumerated() where count > 0 {
            let pxy = Double(count) / n
            let px = Double(table.rows[index / width]) / n
            let py = Double(table.columns[index % width]) / n
            mutual += pxy * log(pxy / (px * py))
        }
        return mutual / ((ha + hb) / 2)
    }

    /// Row sums, column sums and the cells (row-major) of the contingency table.
    private static func contingency(_ a: [Int], _ b: [Int]) -> (rows: [Int], columns: [Int], cells: [Int]) {
        let ia = Dictionary(uniqueKeysWithValues: Array(Set(a)).sorted().enumerated().map { ($1, $0) })
        let ib = Dictionary(uniqueKeysWithValues: Array(Set(b)).sorted().enumerated().map { ($1, $0) })
        var rows = [Int](repeating: 0, count: ia.count)
        var columns = [Int](repeating: 0, count: ib.count)
        var cells = [Int](repeating: 0, count: ia.count * ib.count)
        for (x, y) in zip(a, b) {
            guard let i = ia[x], let j = ib[y] else { continue }
            rows[i] += 1
            columns[j] += 1
            cells[i * ib.count + j] += 1
        }
        return (rows, columns, cells)
    }
}
