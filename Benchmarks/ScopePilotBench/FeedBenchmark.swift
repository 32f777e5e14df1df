import ArgumentParser
import ChildProcess
import Foundation
import Transport
import WireProtocol

/// `scopepilot-bench feed`: frames/s and MB/s of 1024x1024 uint16 frames over tcp loopback through
/// the full receive-and-decode path (FeedSubscriber: receive, JSON header, validation, seq
/// tracking, pixel buffer ready to read), beside a pyzmq + numpy subscriber doing the same
/// (recv_multipart, json.loads, size check, np.frombuffer) on the same feed, in the same run.
struct FeedBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feed", abstract: "Frame-feed throughput: ScopePilot's subscriber beside pyzmq + numpy.")

    @Option(help: "Frames per measurement.") var frames = 2000
    @Option(help: "Pixels per side.") var size = 1024
    @Option(help: "Alternating rounds; the median is reported.") var rounds = 5
    @Option(help: "Python with pyzmq and numpy for the peer (default: .venv/bin/python).") var python =
        ".venv/bin/python"
    @Flag(inversion: .prefixedNo, help: "Keep freed frame buffers for reuse (FrameBufferReuse), as the daemon does.")
    var bufferReuse = true

    struct Measurement {
        var seconds: Double
        var frames: Int
        var bytes: Int
        var framesPerSecond: Double { Double(frames) / seconds }
        var megabytesPerSecond: Double { Double(bytes) / seconds / 1e6 }
    }

    func run() async throws {
        if bufferReuse { FrameBufferReuse.enable() }
        let frameBytes = size * size * 2
        print(
            "Frame feed: \(frames) frames of \(size)x\(size) uint16 (\(String(format: "%.2f", Double(frameBytes) / 1e6)) MB each) over tcp loopback,"
        )
        print("publisher in its own process (XPUB, no drop), subscriber receives, decodes and validates every frame.")
        print("ScopePilot's subscriber \(bufferReuse ? "reuses" : "does not reuse") freed frame buffers.\n")
        var ours: [Measurement] = []
        var theirs: [Measurement] = []
        var ratios: [Double] = []
        for round in 1...rounds {
            // Alternate which side goes first, and compare within a round: this machine is shared,
            // and its speed drifts more between rounds than between two neighbouring runs.
            if round % 2 == 1 {
                ours.append(try await measureSwift())
                theirs.append(try await measurePython())
            } else {
                theirs.append(try await measurePython())
                ours.append(try await measureSwift())
            }
            guard let mine = ours.last, let peer = theirs.last else { continue }
            ratios.append(mine.megabytesPerSecond / peer.megabytesPerSecond)
            print(
                String(
                    format: "round %d: ScopePilot %.0f MB/s, pyzmq+numpy %.0f MB/s, ratio %.2f", round,
                    mine.megabytesPerSecond, peer.megabytesPerSecond, mine.megabytesPerSecond / peer.megabytesPerSecond)
            )
        }
        let a = ours.sorted { $0.megabytesPerSecond < $1.megabytesPerSecond }[rounds / 2]
        let b = theirs.sorted { $0.megabytesPerSecond < $1.megabytesPerSecond }[rounds / 2]
        let ratio = ratios.sorted()[rounds / 2]
        let pythonVersion =
            (try? await capture([
                python, "-c",
                "import zmq, numpy, sys; print(f'pyzmq {zmq.pyzmq_version()} (libzmq {zmq.zmq_version()}), numpy {numpy.__version__}, Python {sys.version.split()[0]}')",
            ])) ?? "?"
        print(
            """

            median of \(rounds)                     frames/s      MB/s
            ScopePilot FeedSubscriber    \(pad(a.framesPerSecond, 9))  \(pad(a.megabytesPerSecond, 8))
            pyzmq + numpy subscriber     \(pad(b.framesPerSecond, 9))  \(pad(b.megabytesPerSecond, 8))
            peer: \(pythonVersion.trimmingCharacters(in: .whitespacesAndNewlines)); ScopePilot: libzmq \(ZMQContext.libraryVersion)
            median ratio ScopePilot / peer within a round: \(String(format: "%.2f", ratio))
            target >= 1500 MB/s decoded: \(a.megabytesPerSecond >= 1500 ? "met" : "NOT met"); not slower than the peer: \(ratio >= 1 ? "met" : "NOT met")
            """)
    }

    private func pad(_ value: Double, _ width: Int) -> String {
        let text = String(format: "%.0f", value)
        return String(repeating: " ", count: max(0, width - text.count)) + text
    }

    /// Starts the publisher child and returns it with its endpoint.
    private func startPublisher() async throws -> (ChildProcess, String) {
        let publisher = try await ChildProcess(
            URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath(),
            ["publish", "--endpoint", "tcp://127.0.0.1:*", "--frames", "\(frames)", "--size", "\(size)"])
        guard let line = await publisher.nextLine(timeout: .seconds(30)) else {
            await publisher.terminate()
            throw ValidationError("the publisher did not say its endpoint: \(publisher.standardError)")
        }
        return (publisher, line)
    }

    private func measureSwift() async throws -> Measurement {
        let (publisher, endpoint) = try await startPublisher()
        let context = try ZMQContext()
        let subscriber = try await FeedSubscriber(connectingTo: try Endpoint(endpoint), context: context)
        let measurement = try await FeedConsumer(subscriber: subscriber, probe: size / 2).consume(frames)
        await subscriber.close()
        _ = await publisher.waitForExit(timeout: .seconds(30))
        await publisher.terminate()
        return measurement
    }

    private func measurePython() async throws -> Measurement {
        let (publisher, endpoint) = try await startPublisher()
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("peers/pyzmq_subscriber.py").path
        let output = try await capture([python, script, "--endpoint", endpoint, "--frames", "\(frames)"])
        _ = await publisher.waitForExit(timeout: .seconds(30))
        await publisher.terminate()
        guard let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any],
            let seconds = object["seconds"] as? Double, let count = object["frames"] as? Int,
            let bytes = object["bytes"] as? Int
        else { throw ValidationError("the pyzmq peer printed: \(output)") }
        return Measurement(seconds: seconds, frames: count, bytes: bytes)
    }

    private func capture(_ command: [String]) async throws -> String {
        let result = try await ChildProcess.run(URL(fileURLWithPath: command[0]), Array(command.dropFirst()))
        guard result.exit == .exited(0) else {
            throw ValidationError("\(command.joined(separator: " ")) \(result.exit): \(result.stderr)")
        }
        return result.stdout
    }
}

extension Duration {
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) * 1e-18
    }
}

/// The consumer of the benchmark feed. It shares the subscriber's executor, as a daemon's ingest
/// actor does, so a frame is received, decoded and handled on one thread without a hop.
actor FeedConsumer {
    let subscriber: FeedSubscriber
    let probe: Int
    nonisolated var unownedExecutor: UnownedSerialExecutor { subscriber.unownedExecutor }

    init(subscriber: FeedSubscriber, probe: Int) {
        self.subscriber = subscriber
        self.probe = probe
    }

    func consume(_ frames: Int) async throws -> FeedBenchmark.Measurement {
        var received = 0
        var bytes = 0
        var start = ContinuousClock.now
        var checksum: Float = 0
        while received < frames {
            switch try await subscriber.next(timeout: .seconds(30)) {
            case .frame(let frame, let observation):
                if received == 0 {
                    start = .now
                } else {
                    if observation != .next { throw ValidationError("frame lost: \(observation)") }
                    bytes += frame.channels.reduce(0) { $0 + $1.storage.byteCount }
                }
                received += 1
                checksum += frame.channels[0][probe, probe]  // read a pixel, as a consumer would
            case .rejected(let error, _, _):
                throw ValidationError("a benchmark frame was refused: \(error)")
            }
        }
        _ = checksum
        // The first frame starts the clock, so it is not counted in the rate.
        return FeedBenchmark.Measurement(
            seconds: (ContinuousClock.now - start).seconds, frames: received - 1, bytes: bytes)
    }
}
