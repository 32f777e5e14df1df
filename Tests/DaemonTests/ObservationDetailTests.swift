import DaemonAnalysis
import DaemonRetraining
import Foundation
import PolicyKit
import Testing
import WireProtocol

/// What analysis tells a policy about brightness and geometry: per frame, chip and community.
@Suite("Observation details from analysis")
struct ObservationDetailTests {
    /// A survey frame, 128 px at 1.6 nm per pixel: its left half dark (0.1), its right half bright
    /// (0.9), with a little noise; a second channel the other way round.
    static func halves() throws -> Frame {
        let side = 128
        var haadf = [Float](repeating: 0, count: side * side)
        var maadf = haadf
        var random = UInt64(7)
        for row in 0..<side {
            for column in 0..<side {
                random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let noise = Float(random >> 40) / Float(1 << 24) * 0.02
                haadf[row * side + column] = (column < side / 2 ? 0.1 : 0.9) + noise
                maadf[row * side + column] = (column < side / 2 ? 0.8 : 0.2) + noise
            }
        }
        return try frame(haadf: haadf, maadf: maadf, side: side, seq: 0, x: 100, y: -50, field: 204.8)
    }

    /// A square HAADF + MAADF float32 frame of `side` px, `field` nm across, centred at (`x`, `y`) nm.
    static func frame(
        haadf: [Float], maadf: [Float], side: Int, seq: UInt64, x: Double, y: Double, field: Double
    ) throws -> Frame {
        let header = FrameHeader(
            session: "drv", seq: seq, time: .init(start: 0, end: 1),
            scan: ScanGeometry(centerX: x, centerY: y, fovX: field, width: side, height: side, dwell: 2),
            stage: StagePosition(x: x, y: y), channels: ["HAADF", "MAADF"], dtype: .float32)
        return try Frame(
            header: header,
            channels: [
                try PixelBuffer(float32: haadf, width: side, height: side),
                try PixelBuffer(float32: maadf, width: side, height: side),
            ])
    }

    @Test("chips and communities carry each channel's brightness and where they are; the frame its own and a thumbnail")
    func brightnessAndGeometry() async throws {
        let analysis = AnalysisStage(detector: nil, modelID: nil, baseline: SimulatedBaseline())
        let frame = try Self.halves()
        let result = try await analysis.analyse(ReceivedFrame(frame))
        #expect(result.channels.map { $0.name } == ["HAADF", "MAADF"])
        #expect(abs((result.channels.channel("HAADF")?.mean ?? 0) - 0.51) < 0.01)
        let thumbnail = try #require(result.thumbnail)
        #expect(thumbnail.width == 128 && thumbnail.height == 128)
        let chips = try #require(result.chips)
        #expect(!chips.chips.isEmpty)
        for chip in chips.chips {
            let haadf = try #require(chip.channels.channel("HAADF"))
            let maadf = try #require(chip.channels.channel("MAADF"))
            // Chips are 16 px (25.6 nm); the frame's centre is at x = 100 nm.
            if chip.x < 100 {
                #expect(abs(haadf.mean - 0.11) < 0.01 && abs(maadf.mean - 0.81) < 0.01, "\(chip)")
            } else {
                #expect(abs(haadf.mean - 0.91) < 0.01 && abs(maadf.mean - 0.21) < 0.01, "\(chip)")
            }
            #expect(haadf.std < 0.01)
        }
        // The darkest community (HAADF) lies in the left half, and its centre is the mean of its chips'.
        func brightness(_ summary: ChipCommunities.Summary) -> Double { summary.channels.first?.mean ?? 1 }
        let byBrightness = chips.summaries.sorted { brightness($0) < brightness($1) }
        let darkest = try #require(byBrightness.first)
        #expect(darkest.x < 100, "\(darkest)")
        let members = chips.chips.filter { $0.community == darkest.id }
        let count = Double(members.count)
        let meanX: Double = members.reduce(0.0) { $0 + $1.x } / count
        let meanY: Double = members.reduce(0.0) { $0 + $1.y } / count
        #expect(abs(darkest.x - meanX) < 1e-9)
        #expect(abs(darkest.y - meanY) < 1e-9)
        #expect(abs((darkest.channels.first?.mean ?? 0) - 0.11) < 0.01)
    }

    /// An atomic-resolution frame of lattice, 256 px at 0.25 Å/px: WSe2's {100} spacing as three
    /// cosines 60° apart, in both channels (MAADF at 0.8 of HAADF's contrast).
    static func lattice() throws -> Frame {
        let side = 256
        var haadf = [Float](repeating: 0, count: side * side)
        var maadf = haadf
        let spacing = 2.842 / 0.25
        for row in 0..<side {
            for column in 0..<side {
                var sum = 0.0
                for k in 0..<3 {
                    let angle = 0.2 + Double(k) * .pi / 3
                    sum += cos(2 * .pi * (Double(column) * cos(angle) + Double(row) * sin(angle)) / spacing)
                }
                let value = Float(2 + exp(sum - 3))
                haadf[row * side + column] = value
                maadf[row * side + column] = 0.8 * value
            }
        }
        return try frame(haadf: haadf, maadf: maadf, side: side, seq: 1, x: 0, y: 0, field: 6.4)
    }

    @Test("at atomic resolution each community names its part of the session; at survey magnification none does")
    func parts() async throws {
        let analysis = AnalysisStage(detector: nil, modelID: nil, baseline: SimulatedBaseline())
        let atomic = try #require(try await analysis.analyse(ReceivedFrame(Self.lattice())).chips)
        #expect(!atomic.summaries.isEmpty)
        #expect(atomic.summaries.allSatisfy { $0.part == "lattice" }, "\(atomic.summaries.map(\.part))")
        let survey = try #require(try await analysis.analyse(ReceivedFrame(Self.halves())).chips)
        #expect(!survey.summaries.isEmpty && survey.summaries.allSatisfy { $0.part == nil })
    }
}
