public import Foundation
public import WireProtocol

/// One frame a replay driver can serve: how it was scanned, where it came from, and where its
/// pixels are (they are read only when the frame is served).
public struct RecordedFrame: Sendable {
    /// The scan as recorded (stage coordinates, nm).
    public var scan: ScanGeometry
    /// The stage readback recorded with it.
    public var stage: StagePosition
    /// Channel names, in the order of ``pixels``.
    public var channels: [String]
    /// Why it was acquired.
    public var purpose: FrameHeader.Purpose
    /// The optics recorded with it, when known.
    public var optics: Optics?
    /// When it was acquired, Unix seconds (its arrival at the daemon for a recorded session; the
    /// file's order for a folder, one second apart).
    public var time: Double
    /// How long the instrument took to produce it, from the command's sending to the frame's
    /// arrival, when the recording says; what `--timing exact` waits before serving it.
    public var acquisitionSeconds: Double?
    /// Where it comes from, in words: the frame header's `source`.
    public var source: String
    /// Where its pixels are.
    public var pixels: PixelSource

    /// Where a recorded frame's pixels are kept.
    public enum PixelSource: Sendable {
        /// One image file per channel, in channel order (a session's frames of record, or a
        /// folder's files); `page` of each for a file holding a series.
        case files([URL], page: Int = 0)
        /// Every channel's raw little-endian pixels in one blob of a log written before schema v7.
        case logBlob(log: String, frame: Int64)
    }

    /// Creates a recorded frame.
    public init(
        scan: ScanGeometry, stage: StagePosition, channels: [String], purpose: FrameHeader.Purpose,
        optics: Optics? = nil, time: Double, acquisitionSeconds: Double? = nil, source: String,
        pixels: PixelSource
    ) {
        self.scan = scan
        self.stage = stage
        self.channels = channels
        self.purpose = purpose
        self.optics = optics
        self.time = time
        self.acquisitionSeconds = acquisitionSeconds
        self.source = source
        self.pixels = pixels
    }
}
