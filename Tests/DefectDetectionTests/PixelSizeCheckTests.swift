import DefectDetection
import Foundation
import ImageIO
import ImageNumerics
import Simulator
import Testing
import WireProtocol

@Suite("The pixel-size check: the lattice says what a pixel is")
struct PixelSizeCheckTests {
    /// A frame of `pixels` px at `pixelSize` Å per pixel, `dwell` µs.
    static func frame(pixelSize: Double, pixels: Int = 256, dwell: Double = 10, x: Double = -40) -> Image {
        let fov = Double(pixels) * pixelSize / 10
        let frame = VirtualMicroscope(noiseSeed: 3).acquire(
            ScanGeometry(centerX: x, centerY: 30, fovX: fov, width: pixels, height: pixels, dwell: dwell),
            channels: ["HAADF"])
        return frame.channels["HAADF"]!
    }

    @Test(
        "The measured period is the {100} spacing at every pixel size atoms are resolved at",
        arguments: [0.08, 0.12, 0.16, 0.2, 0.3, 0.45])
    func measures(pixelSize: Double) throws {
        let period = try #require(LatticePeriod.measure(Self.frame(pixelSize: pixelSize)))
        let implied = period.pixelSize()
        #expect(abs(implied / pixelSize - 1) < 0.05, "measured \(period), implies \(implied) Å for \(pixelSize)")
        #expect(PixelSizeCheck(Self.frame(pixelSize: pixelSize, x: 60), claimed: pixelSize).implied != nil)
        if case .consistent = PixelSizeCheck(Self.frame(pixelSize: pixelSize, x: 60), claimed: pixelSize) {
        } else {
            Issue.record("the true pixel size \(pixelSize) Å was not accepted")
        }
    }

    @Test("Scan-line streaks and a lattice turned onto the spectrum's axes still measure it", arguments: [0.0, 30.0])
    func streaks(rotation: Double) throws {
        let pixelSize = 0.2
        let fov = 512 * pixelSize / 10
        var image = VirtualMicroscope(noiseSeed: 5).acquire(
            ScanGeometry(centerX: -40, centerY: 30, fovX: fov, width: 512, height: 512, dwell: 20, rotation: rotation),
            channels: ["HAADF"]
        ).channels["HAADF"]!
        // An offset per scan line of half the frame's standard deviation.
        var random = SplitMix64(seed: 7)
        let deviation = image.standardDeviation
        for y in 0..<image.height {
            let offset = Float(Double(random.next() % 2001) / 1000 - 1) * deviation
            for x in 0..<image.width { image[x, y] += offset }
        }
        let period = try #require(LatticePeriod.measure(image))
        #expect(abs(period.pixelSize() / pixelSize - 1) < 0.05, "rotation \(rotation): \(period)")
    }

    @Test("Low dose and small frames still measure it")
    func lowDose() throws {
        let period = try #require(LatticePeriod.measure(Self.frame(pixelSize: 0.2, pixels: 128, dwell: 1)))
        #expect(abs(period.pixelSize() / 0.2 - 1) < 0.06, "\(period)")
    }

    @Test("A wrong pixel size is refused with the one the lattice implies", arguments: [1.0, 0.02, 0.3, 2.0])
    func refuses(claimed: Double) throws {
        let check = PixelSizeCheck(Self.frame(pixelSize: 0.16), claimed: claimed)
        guard case .mismatch(_, let implied) = check else {
            Issue.record("\(claimed) Å for a 0.16 Å image was accepted: \(check)")
            return
        }
        #expect(abs(implied / 0.16 - 1) < 0.05)
        let message = try #require(check.refusal(claimed: claimed))
        #expect(message.contains("Å per pixel, not the") && message.contains("--pixel-size auto"), "\(message)")
    }

    @Test("Noise and flat frames have no lattice: unmeasured, not a guess")
    func noLattice() {
        var generator = SplitMix64(seed: 9)
        let noise = Image(
            width: 256, height: 256,
            pixels: (0..<(256 * 256)).map { _ in Float(Double(generator.next() % 10_000) / 10_000) })
        #expect(LatticePeriod.measure(noise) == nil)
        #expect(PixelSizeCheck(noise, claimed: 0.2) == .unmeasured)
        #expect(LatticePeriod.measure(Image(width: 128, height: 128, value: 3)) == nil)
        var nan = Image(width: 64, height: 64, value: 1)
        nan.pixels[100] = .nan
        #expect(LatticePeriod.measure(nan) == nil)
    }
}

@Suite("The pixel-size check on an image we did not make")
struct IndependentPixelSizeTests {
    @Test("An abTEM multislice HAADF image of WSe2 at 0.198 Å per pixel (Tests/Fixtures/abtem)")
    func abTEM() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/abtem/wse2-haadf-0.198A.npy")
        let image = try NumpyFile.read(url)
        #expect(PixelSizeCheck(image, claimed: 1.0).refusal(claimed: 1.0) != nil)
        // On this 86 x 83 noise-free frame a streak near Nyquist outshines the lattice; the {100}
        // (5.7 cycles) and {110} (9.9) spots are both there and say the scale.
        let period = try #require(LatticePeriod.measure(image))
        #expect(abs(period.pixelSize() / 0.198 - 1) < 0.04, "\(period) implies \(period.pixelSize()) Å")
    }
}
