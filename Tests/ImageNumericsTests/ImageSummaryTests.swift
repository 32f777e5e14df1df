import ImageNumerics
import Testing

@Suite("Image statistics and block averages")
struct ImageSummaryTests {
    @Test("statistics of a rectangle: its mean and standard deviation, clipped to the image, NaN left out")
    func rectangleStatistics() throws {
        var image = Image(width: 4, height: 2, pixels: [1, 1, 5, 7, 1, 1, 5, 7])
        let left = try #require(image.statistics(x: 0, y: 0, width: 2, height: 2))
        #expect(left.mean == 1 && left.std == 0)
        let right = try #require(image.statistics(x: 2, y: 0, width: 5, height: 5))  // clipped to 2 x 2
        #expect(right.mean == 6 && right.std == 1)
        #expect(image.statistics(x: 4, y: 0, width: 2, height: 2) == nil, "nothing of it inside")
        image[3, 1] = .nan
        let partial = try #require(image.statistics(x: 3, y: 0, width: 1, height: 2))
        #expect(partial.mean == 7 && partial.std == 0)
    }

    @Test("a block average keeps the mean of each block and leaves a small image alone")
    func blockAverage() {
        let pixels = (0..<(8 * 6)).map { Float($0 % 8 < 4 ? 0 : 2) }
        let image = Image(width: 8, height: 6, pixels: pixels)
        let small = image.blockAveraged(toAtMost: 4)
        #expect(small.width == 4 && small.height == 3)
        #expect(small.pixels == [0, 0, 2, 2, 0, 0, 2, 2, 0, 0, 2, 2])
        #expect(image.blockAveraged(toAtMost: 8) == image)
        #expect(Image(width: 300, height: 7, value: 1).blockAveraged(toAtMost: 128).width == 100)
    }
}
