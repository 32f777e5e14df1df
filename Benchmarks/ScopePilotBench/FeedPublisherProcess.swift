import ArgumentParser
import Foundation
import Transport
import WireProtocol

/// The publishing side of the feed benchmark, run as a child process so that publisher and
/// subscriber each have a process (and a core) of their own, as driver and daemon do.
///
/// It binds an XPUB socket with NODROP, waits for the first subscription, then publishes
/// `--frames` frames as fast as the subscriber takes them: nothing is dropped, so the figure is
/// the subscriber's throughput.
struct FeedPublisherProcess: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish", abstract: "Publish benchmark frames (used by `feed`).", shouldDisplay: false)

    @Option var endpoint: String
    @Option var frames: Int
    @Option var size: Int

    func run() async throws {
        let context = try ZMQContext()
        var options = SocketOptions()
        options.noDrop = true
        options.sendHighWaterMark = 16
        let socket = try ZMQSocket(.extendedPublisher, context: context, options: options, name: "bench-pub")
        let bound = try await socket.bind(try Endpoint(endpoint))
        // One line on stdout tells the parent where to connect; FileHandle writes are unbuffered.
        FileHandle.standardOutput.write(Data((bound.text + "\n").utf8))
        // XPUB delivers each subscription as a message: byte 1, then the topic.
        _ = try await socket.receive(timeout: .seconds(30))
        let pixels = (0..<(size * size)).map { UInt16(truncatingIfNeeded: $0 &* 2_654_435_761 >> 20) }
        let buffer = try PixelBuffer(uint16: pixels, width: size, height: size)
        let scan = ScanGeometry(centerX: 0, centerY: 0, fovX: 20, width: size, height: size, dwell: 2)
        for seq in 0..<frames {
            let header = FrameHeader(
                session: "bench", seq: UInt64(seq), time: .init(start: 1, end: 2), scan: scan,
                stage: StagePosition(x: 0, y: 0), channels: ["HAADF"], dtype: .uint16)
            try await socket.send(try FrameCodec.encode(Frame(header: header, channels: [buffer])))
        }
        await socket.close()
        context.terminate()
    }
}
