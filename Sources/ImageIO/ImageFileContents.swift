public import ImageNumerics

/// What an image file holds: one frame, or a series of frames of one size (a multi-page TIFF, a
/// DigitalMicrograph stack), and the pixel size and stage position its own metadata states, if any.
public struct ImageFileContents: Sendable {
    /// The frames, in the file's order; never empty.
    public let frames: [Image]
    /// The file's own calibration (nil: the file carries none).
    public let calibration: PixelCalibration?
    /// Where the stage was, as the file's metadata says (nil: it says nothing).
    public let stage: StageReading?

    /// A stage position a file states.
    public struct StageReading: Sendable, Hashable {
        /// Stage x, nm.
        public let x: Double
        /// Stage y, nm.
        public let y: Double
        /// Where in the file it was read, e.g. `DigitalMicrograph Microscope Info`.
        public let source: String
    }

    /// Contents of `frames` (at least one) with `calibration` and `stage`.
    public init(frames: [Image], calibration: PixelCalibration?, stage: StageReading? = nil) {
        precondition(!frames.isEmpty, "a file's contents hold at least one frame")
        self.frames = frames
        self.calibration = calibration
        self.stage = stage
    }
}
