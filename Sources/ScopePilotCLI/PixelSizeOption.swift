import ArgumentParser
import DefectDetection
import ImageNumerics

/// `--pixel-size A` or `--pixel-size auto`: a pixel size given in Å, checked against the lattice
/// each image shows, or measured from it.
enum PixelSizeOption: ExpressibleByArgument, Equatable {
    case given(Double)
    case measured

    init?(argument: String) {
        if argument.lowercased() == "auto" {
            self = .measured
        } else if let value = Double(argument), value.isFinite {
            self = .given(value)
        } else {
            return nil
        }
    }

    static var defaultValueDescription: String { "A or auto" }

    /// The given value (nil for auto).
    var given: Double? {
        if case .given(let value) = self { return value }
        return nil
    }

    /// The pixel size to analyse `image` at: the given one when the lattice agrees (or none is
    /// seen), the measured one for `auto`. Throws the refusal, with the measured period, when the
    /// lattice disagrees, or when `auto` finds no lattice to measure.
    func resolve(
        for image: Image, samplePeriod: Double, checked: Bool = true
    ) throws -> (
        value: Double, measured: Double?
    ) {
        switch self {
        case .given(let claimed):
            guard checked else { return (claimed, nil) }
            let check = PixelSizeCheck(image, claimed: claimed, samplePeriod: samplePeriod)
            if let refusal = check.refusal(claimed: claimed, samplePeriod: samplePeriod) {
                throw ValidationError(refusal + " (or --no-pixel-size-check for a sample that is not WSe2)")
            }
            return (claimed, check.implied)
        case .measured:
            guard let period = LatticePeriod.measure(image) else {
                throw ValidationError(
                    "--pixel-size auto: no lattice stands out in this image to measure the pixel size from "
                        + "(vacuum, amorphous, or pixels too coarse for atoms); give --pixel-size in Å")
            }
            let value = period.pixelSize(forSamplePeriod: samplePeriod)
            return (value, value)
        }
    }
}
