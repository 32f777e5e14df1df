import Foundation
import Testing
import WireProtocol

/// The JSON writer: what it writes reads back as the value written.
@Suite("JSON writer")
struct JSONWriterTests {
    @Test("nested values read back equal, keys sorted, text escaped")
    func roundTrip() throws {
        let value: [String: Any] = [
            "zeta": 1, "alpha": [1.5, -2e-7, 1e300, 0.1], "text": "quote \" slash \\ line\n tab\t bell\u{7} µm 原子",
            "nested": ["flag": true, "off": false, "none": NSNull(), "seq": UInt64.max, "list": [[String: Any]]()],
            "ints": [Int.min, 0, Int.max],
        ]
        let bytes = try #require(JSONWriter.data(value))
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix(#"{"alpha":[1.5,-2e-07,1e+300,0.1],"ints":"#), "\(text)")
        let back = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(back["text"] as? String == value["text"] as? String)
        #expect((back["alpha"] as? [Double]) == [1.5, -2e-7, 1e300, 0.1])
        #expect((back["ints"] as? [Int]) == [Int.min, 0, Int.max])
        let nested = try #require(back["nested"] as? [String: Any])
        #expect(nested["flag"] as? Bool == true && nested["off"] as? Bool == false)
        #expect(nested["none"] is NSNull)
        #expect(nested["seq"] as? UInt64 == UInt64.max)
    }

    @Test("what JSON cannot carry is refused, not written")
    func refusesNonJSON() {
        #expect(JSONWriter.data(["x": Double.nan]) == nil)
        #expect(JSONWriter.data(["x": [Double.infinity]]) == nil)
        #expect(JSONWriter.data(["x": Date()]) == nil)
    }
}
