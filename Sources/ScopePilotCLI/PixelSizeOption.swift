import ArgumentParser
import DefectDetection
import Foundation
import ImageIO
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

    /// How closely a `--pixel-size` must agree with a file's own calibration.
    static let calibrationTolerance = 0.02

    /// The pixel size for `input` from the option (nil: not given) and the file's own calibration:
    /// the file's wins over nothing, must agree with a given value within 2 %, and `auto` measures;
    /// then checked against the lattice as ``resolve(for:samplePeriod:checked:)`` does. Returns the
    /// value, the lattice's measurement and where the value came from.
    static func resolve(
        _ option: PixelSizeOption?, for input: ImageInput, samplePeriod: Double, checked: Bool = true
    ) throws -> (value: Double, measured: Double?, source: String) {
        let calibration = input.calibration
        switch (option, calibration) {
        case (.measured?, _):
            let resolved = try PixelSizeOption.measured.resolve(
                for: input.image, samplePeriod: samplePeriod, checked: checked)
            return (resolved.value, resolved.measured, "measured from the lattice")
        case (.given(let given)?, let file?):
            guard abs(file.angstrom - given) <= calibrationTolerance * given else {
                throw ValidationError(
                    "the file's \(file.source) gives \(rounded(file.angstrom)) Å/px but --pixel-size is \(rounded(given)) Å: "
                        + "leave out --pixel-size to use the file's, or correct whichever is wrong")
            }
            let resolved = try PixelSizeOption.given(file.angstrom).resolve(
                for: input.image, samplePeriod: samplePeriod, checked: checked)
            return (resolved.value, resolved.measured, "the file's \(file.source)")
        case (nil, let file?):
            do {
                let resolved = try PixelSizeOption.given(file.angstrom).resolve(
                    for: input.image, samplePeriod: samplePeriod, checked: checked)
                return (resolved.value, resolved.measured, "the file's \(file.source)")
            } catch {
                throw ValidationError(
                    "the file's \(file.source) gives \(rounded(file.angstrom)) Å/px, which its lattice contradicts "
                        + "(--pixel-size auto measures it instead): \(error)")
            }
        case (.given(let given)?, nil):
            let resolved = try PixelSizeOption.given(given).resolve(
                for: input.image, samplePeriod: samplePeriod, checked: checked)
            return (resolved.value, resolved.measured, "--pixel-size")
        case (nil, nil):
            throw ValidationError(
                "the file states no pixel size: give --pixel-size in Å (or auto, to measure it from the lattice)")
        }
    }

    private static func rounded(_ value: Double) -> String { String(format: "%.4g", value) }
}
