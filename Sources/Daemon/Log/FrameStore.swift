import DaemonAnalysis
import DedicatedThreads
import Foundation
import ImageIO
import WireProtocol

/// The frames of record: every frame's pixels kept losslessly beside the decision log, one TIFF
/// per channel, as the driver sent them (16-bit counts or float32), deflated after TIFF's
/// predictor and carrying the pixel size, so that ImageJ/Fiji, tifffile and `scopepilot detect`
/// read them as they are (docs/LOG.md, "Frames of record").
///
/// Layout under `<log>.frames/`: `<session>/d<k>/<block>/<seq>-<channel>.tif`, where `k` numbers
/// the driver sessions of the log's session in order of arrival (a restarted driver counts its seq
/// from 0 again), `block` is the seq divided by 1000 (six digits: no folder grows past a thousand
/// frames) and `seq` has nine digits. Channel names keep letters, digits, `-` and `_`. The log's
/// `frames.pixels_files` gives each frame's files by channel, relative to the log's folder.
///
/// Compression runs on the store's own thread, never on the cooperative pool.
actor FrameStore {
    /// Why a frame's pixels could not be kept.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private let thread = ComputeThread(name: "scopepilot-frames")
    nonisolated var unownedExecutor: UnownedSerialExecutor { thread.asUnownedSerialExecutor() }

    /// The folder the log's relative paths start from (the log's own folder).
    let base: URL
    /// `<log>.frames/<session>`.
    let root: URL
    /// Deflate level: 1, the fastest, keeps up with any frame rate a STEM reaches.
    let level: Int
    private var driverSessions: [String: Int] = [:]
    private var folders = Set<String>()

    /// A store for `session` beside the log at `database`.
    init(database: String, session: String, level: Int = 1) {
        let log = URL(fileURLWithPath: database).standardizedFileURL
        base = log.deletingLastPathComponent()
        root = URL(fileURLWithPath: log.path + ".frames").appendingPathComponent(Self.safe(session))
        self.level = level
    }

    /// Lets the store's thread end once its queued writes are done.
    nonisolated func finish() { thread.finish() }

    /// Writes every channel of `frame` (`pixelSize` Å) and returns its files by channel name,
    /// relative to the log's folder.
    func write(_ frame: Frame, pixelSize: Double) throws(Failure) -> [String: String] {
        let header = frame.header
        let driver = driverSessions[header.session] ?? driverSessions.count
        driverSessions[header.session] = driver
        let block = String(format: "%06llu", header.seq / 1000)
        let folder = root.appendingPathComponent("d\(driver)").appendingPathComponent(block)
        if !folders.contains(folder.path) {
            do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
                throw Failure(description: "cannot create \(folder.path): \(error.localizedDescription)")
            }
            folders.insert(folder.path)
        }
        var files: [String: String] = [:]
        var used = Set<String>()
        for (index, (name, buffer)) in zip(header.channels, frame.channels).enumerated() {
            var stem = Self.safe(name)
            if used.contains(stem) { stem += "-\(index)" }
            used.insert(stem)
            let url = folder.appendingPathComponent(String(format: "%09llu-", header.seq) + stem + ".tif")
            let encoded = TIFFFile.encode(
                samples: buffer.storage.bytes, width: buffer.width, height: buffer.height,
                type: buffer.dtype == .uint16 ? .uint16 : .float32, compression: .deflate(level: level),
                pixelSize: pixelSize)
            do { try Data(encoded).write(to: url) } catch {
                throw Failure(description: "cannot write \(url.path): \(error.localizedDescription)")
            }
            files[name] = String(url.path.dropFirst(base.path.count + (base.path.hasSuffix("/") ? 0 : 1)))
        }
        return files
    }

    /// `text` made safe for a path (``SafeFileName``).
    static func safe(_ text: String) -> String { SafeFileName.of(text) }
}
