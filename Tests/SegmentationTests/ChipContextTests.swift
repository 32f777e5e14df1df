import Foundation
import ImageNumerics
import Testing

@testable import Segmentation

@Suite("A chip's context: averaged where the frame is noise, left out where it has structure")
struct ChipContextTests {
    static let grid = ChipGrid(width: 12 * 8, height: 12 * 8, chipSize: 8, stride: 8)

    /// A block of `width` values per chip of `grid`: `value(row, column)` plus seeded noise.
    static func block(width: Int, seed: UInt64, noise: Double, value: (Int, Int) -> Double) -> FeatureBlock {
        let grid = Self.grid
        let random = normalValues(grid.count * width, mean: 0, deviation: noise, seed: seed)
        var values: [Float] = []
        for chip in 0..<grid.count {
            for k in 0..<width {
                values.append(Float(value(chip / grid.columns, chip % grid.columns) + random[chip * width + k]))
            }
        }
        return FeatureBlock(channel: "HAADF", name: "intensity", width: width, values: values)
    }

    @Test("chips that differ only by noise count their neighbours almost fully")
    func noise() {
        let blocks = (1...3).map { Self.block(width: 4, seed: UInt64($0), noise: 1) { _, _ in 0 } }
        let weight = ChipFeatureExtractor.contextWeight(blocks, grid: Self.grid)
        #expect(weight > 0.7, "\(weight)")
    }

    @Test("a frame of regions four chips across gives its neighbours no weight, and keeps its values")
    func structure() {
        // Squares of 4 x 4 chips, alternating between two kinds, with a little noise.
        let kind = { (row: Int, column: Int) in Double((row / 4 + column / 4) % 2) }
        let blocks = (1...3).map { Self.block(width: 4, seed: UInt64($0), noise: 0.1, value: kind) }
        #expect(ChipFeatureExtractor.contextWeight(blocks, grid: Self.grid) == 0)
        let weights = ChipFeatureExtractor.contextWeights(blocks, grid: Self.grid, reach: 1)
        #expect(weights.allSatisfy { $0.count == 9 })
        let smoothed = ChipFeatureExtractor.smooth(blocks[0], weights: weights)
        #expect(smoothed.values == blocks[0].values, "the context changed the chips' values")
    }

    @Test("with full weight the context is the mean of the window, which moves inwards at the edges")
    func mean() {
        let grid = ChipGrid(width: 4 * 8, height: 4 * 8, chipSize: 8, stride: 8)
        let block = FeatureBlock(channel: "HAADF", name: "intensity", width: 1, values: (0..<16).map(Float.init))
        let weights = (0..<16).map { chip -> [(chip: Int, weight: Float)] in
            let (row, column) = (min(max(chip / 4, 1), 2), min(max(chip % 4, 1), 2))
            return (row - 1...row + 1).flatMap { r in (column - 1...column + 1).map { (r * 4 + $0, Float(1)) } }
        }
        let smoothed = ChipFeatureExtractor.smooth(block, weights: weights)
        // Chip 0's window is rows 0-2, columns 0-2: mean of 0, 1, 2, 4, 5, 6, 8, 9, 10.
        #expect(smoothed.values[0] == 5)
        #expect(smoothed.values[5] == 5)
        #expect(smoothed.values[15] == 10)
        _ = grid
    }
}
