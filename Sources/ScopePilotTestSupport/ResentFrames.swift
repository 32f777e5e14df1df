public import Transport
public import WireProtocol

extension CommandClient {
    /// The next `count` frames re-sent over the command channel (fewer if none come for a second).
    public func resentFrames(_ count: Int) async -> [Frame] {
        let stream = resent
        return await withTaskGroup(of: [Frame].self) { group in
            group.addTask {
                var frames: [Frame] = []
                for await delivery in stream {
                    if case .frame(let frame, _) = delivery { frames.append(frame) }
                    if frames.count == count { break }
                }
                return frames
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(count + 1))
                return []
            }
            let first = await group.next() ?? []
            group.cancelAll()
            let second = await group.next() ?? []
            return first.count >= second.count ? first : second
        }
    }
}
