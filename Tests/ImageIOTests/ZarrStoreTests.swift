import Foundation
import Testing

@testable import ImageIO

@Suite("Zarr stores as the log's export writes them")
struct ZarrStoreTests {
    @Test("an array is chunked along its first dimension, little-endian and zlib-compressed, with its metadata")
    func arrayLayout() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("zarr-\(UUID()).zarr")
        defer { try? FileManager.default.removeItem(at: url) }
        let store = try ZarrStore(creatingAt: url, attributes: ["session": "s-1"])
        try store.array("a", .uint16([1, 2, 3, 258, 5, 6]), shape: [2, 3], dimensions: ["frame", "x"], chunk: 1)
        try store.array("t", .text(["Se1", "W"]), shape: [2], dimensions: ["row"])
        let metadata = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: url.appendingPathComponent("a/.zarray")))
                as? [String: Any])
        #expect(metadata["dtype"] as? String == "<u2")
        #expect(metadata["chunks"] as? [Int] == [1, 3] && metadata["shape"] as? [Int] == [2, 3])
        let second = try Decompression.inflate(
            ArraySlice(try Data(contentsOf: url.appendingPathComponent("a/1.0"))), expected: 6)
        #expect(second == [2, 1, 5, 0, 6, 0])
        let text = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: url.appendingPathComponent("t/.zarray")))
                as? [String: Any])
        #expect(text["dtype"] as? String == "<U3")
        let attributes = try JSONSerialization.jsonObject(
            with: Data(contentsOf: url.appendingPathComponent("a/.zattrs")))
        #expect((attributes as? [String: Any])?["_ARRAY_DIMENSIONS"] as? [String] == ["frame", "x"])
        #expect(throws: ZarrStore.Failure.self) { try ZarrStore(creatingAt: url) }
    }
}
