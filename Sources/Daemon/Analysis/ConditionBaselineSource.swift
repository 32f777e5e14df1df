public import DefectDetection
public import ImageNumerics

/// Where the condition monitor gets the images it compares the microscope's frames with:
/// simulations drawn from the conditions a detector was trained for. The analysis layer does not
/// simulate; the daemon gives it a source (the virtual microscope's, in `DaemonRetraining`).
public protocol ConditionBaselineSource: Sendable {
    /// `count` square images of `side` pixels at `pixelSize` Å, under conditions drawn from
    /// `ranges`; the same images for the same arguments.
    func images(count: Int, side: Int, ranges: ConditionRanges, pixelSize: Double) -> [Image]
}
