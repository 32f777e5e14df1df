public import ImageNumerics

/// What an image file holds: one frame, or a series of frames of one size (a multi-page TIFF, a
/// DigitalMicrograph stack), and the pixel size its own metadata states, if any.
public struct ImageFileContents: Sendable {
    /// The frames, in the file's order; never empty.
    public let frames: [Image]
    /// The file's own calibration (nil: the file carries none).
    public let calibration: PixelCalibration?

    /// Contents of `frames` (at least one) with `calibration`.
    public init(frames: [Image], calibration: PixelCalibration?) {
        precondition(!frames.isEmpty, "a file's contents hold at least one frame")
        self.frames = frames
        self.calibration = calibration
    }
}
