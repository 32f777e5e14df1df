import Foundation
import Testing

@testable import Dashboard

@Suite("What a live page is sent")
struct LiveSessionTests {
    static func region(_ i: Int, dose: Double? = 10) -> LiveSession.Region {
        .init(frame: Int64(i), seq: i, x: Double(i), y: 0, fovX: 5, fovY: 5, dose: dose)
    }

    static func object(_ json: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any])
    }

    static func regions(_ message: [String: Any]) -> (from: Int, count: Int) {
        let regions = message["regions"] as? [String: Any]
        return (regions?["from"] as? Int ?? -1, (regions?["items"] as? [Any])?.count ?? -1)
    }

    @Test("Each page gets every region once, in pages of at most itemsPerMessage; nothing when nothing changed")
    func paging() throws {
        let live = LiveSession()
        let total = 2 * LiveSession.itemsPerMessage + 123
        live.update { $0.regions = (0..<total).map { Self.region($0) } }
        var cursor = LiveCursor()
        var seen: [(Int, Int)] = []
        var more = true
        while more, let (json, next) = live.message(&cursor) {
            seen.append(Self.regions(try Self.object(json)))
            more = next
        }
        #expect(seen.map(\.0) == [0, LiveSession.itemsPerMessage, 2 * LiveSession.itemsPerMessage])
        #expect(seen.map(\.1).reduce(0, +) == total)
        #expect(live.message(&cursor) == nil)
        live.update { $0.regions.append(Self.region(total)) }
        let next = Self.regions(try Self.object(try #require(live.message(&cursor)).json))
        #expect(next.from == total && next.count == 1)
    }

    @Test("Beyond the cap the oldest regions go; a page's position stays an absolute index")
    func cap() throws {
        let live = LiveSession()
        live.update { $0.regions = (0..<(LiveSession.regionCap + 10)).map { Self.region($0) } }
        #expect(live.snapshot.regions.count == LiveSession.regionCap)
        #expect(live.snapshot.regionsDropped == 10)
        var cursor = LiveCursor()
        let first = Self.regions(try Self.object(try #require(live.message(&cursor)).json))
        #expect(first.from == 10 && first.count == LiveSession.itemsPerMessage)
    }

    @Test("Numbers JSON cannot carry become null, not a broken message")
    func nonFinite() throws {
        let live = LiveSession()
        live.update {
            $0.regions = [Self.region(0, dose: .nan), Self.region(1, dose: .infinity)]
            $0.marks = [.init(x: .nan, y: 1, type: "Se1")]
        }
        var cursor = LiveCursor()
        let message = try Self.object(try #require(live.message(&cursor)).json)
        let items = try #require((message["regions"] as? [String: Any])?["items"] as? [[Any]])
        #expect(items.count == 2 && items.allSatisfy { $0[6] is NSNull })
        let marks = try #require((message["marks"] as? [String: Any])?["items"] as? [[Any]])
        #expect(marks.first?.first is NSNull)
    }

    @Test("A watcher is woken at once, keeps only the newest wake-up, and ends when the view closes")
    func watching() async {
        let live = LiveSession()
        let (changes, stop) = live.watch()
        #expect(live.watching == 1)
        for i in 0..<100 { live.update { $0.regions.append(Self.region(i)) } }
        live.close()
        var wakeUps = 0
        for await _ in changes { wakeUps += 1 }
        // The first wake-up and at most one kept from the hundred changes, then the close.
        #expect(wakeUps >= 1 && wakeUps <= 2)
        #expect(live.watching == 0)
        stop()
        live.update { $0.regions = [] }
        #expect(live.snapshot.regions.count == 100, "changes after the close are ignored")
        var later = 0
        for await _ in live.watch().changes { later += 1 }
        #expect(later == 1, "a page that comes after the close gets the last state and the end")
    }
}
