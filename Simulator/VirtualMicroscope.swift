import Foundation
public import Numerics
public import WireProtocol

/// A simulated frame: detector output per channel, the noise-free expectation, and ground truth.
public struct SimulatedFrame: Sendable {
    /// Detector output in ADU (whole numbers, 0 ... 65535), by channel name.
    public var channels: [String: Image]
    /// Expected counts before noise, by channel name.
    public var expected: [String: Image]
    /// What is really there.
    public var truth: GroundTruth
    /// Electrons per pixel (probe current x dwell).
    public var electronsPerPixel: Double
}

/// The virtual microscope: a sample, the probe, detectors and the dose the sample has received.
///
/// Not thread safe; the simulated driver owns one.
public final class VirtualMicroscope {
    /// The sample.
    public var sample: Sample
    /// The probe's optics and current.
    public var optics: ProbeOptics
    /// The detectors, by name.
    public var detectors: [String: Detector]
    /// Dose received so far.
    public private(set) var dose = DoseMap()
    private let formation = ImageFormation()
    private var noise: NoiseGenerator

    /// A microscope over `sample`, with HAADF and MAADF detectors.
    public init(
        sample: Sample = Sample(), optics: ProbeOptics = ProbeOptics(),
        detectors: [Detector] = [.haadf, .maadf], noiseSeed: UInt64 = 1
    ) {
        self.sample = sample
        self.optics = optics
        self.detectors = Dictionary(uniqueKeysWithValues: detectors.map { ($0.name, $0) })
        noise = NoiseGenerator(seed: noiseSeed)
    }

    /// Scans `scan` with the named detectors (all when nil): returns the frame with noise and its
    /// ground truth, then adds the frame's dose to the sample (so the next visit costs something).
    public func acquire(_ scan: ScanGeometry, channels: [String]? = nil, deposit: Bool = true) -> SimulatedFrame {
        let names = channels ?? detectors.keys.sorted()
        var output: [String: Image] = [:]
        var expected: [String: Image] = [:]
        for name in names {
            guard let detector = detectors[name] else { continue }
            let mean = formation.expectedCounts(
                scan: scan, sample: sample, dose: dose, optics: optics, detector: detector)
            var adu = mean
            for i in adu.pixels.indices {
                let counts = noise.poisson(Double(mean.pixels[i]))
                let value = detector.gain * counts + detector.offset + detector.readNoise * noise.gaussian()
                adu.pixels[i] = Float(min(65535, max(0, value.rounded())))
            }
            output[name] = adu
            expected[name] = mean
        }
        let truth = groundTruth(scan)
        let electrons = optics.electrons(dwell: scan.dwell)
        if deposit {
            let frame = ScanFrame(scan)
            let bounds = frame.bounds(margin: 0)
            dose.add(electrons / (frame.pixelX * frame.pixelY), x: bounds.x, y: bounds.y, contains: frame.contains)
        }
        return SimulatedFrame(channels: output, expected: expected, truth: truth, electronsPerPixel: electrons)
    }

    /// Atom columns, defects and region labels of the frame, in pixel coordinates.
    public func groundTruth(_ scan: ScanGeometry) -> GroundTruth {
        let frame = ScanFrame(scan)
        var regions = [UInt8](repeating: 0, count: scan.width * scan.height)
        for row in 0..<scan.height {
            for column in 0..<scan.width {
                let p = frame.stage(column: Double(column), row: Double(row))
                regions[row * scan.width + column] = UInt8(sample.region(atX: p.x, y: p.y).rawValue)
            }
        }
        var columns: [GroundTruth.Column] = []
        var defects: [GroundTruth.Defect] = []
        // Atom positions matter only at atomic resolution; a survey frame would list millions.
        if frame.pixelX <= ImageFormation.surveyPixel {
            let bounds = frame.bounds(margin: 0)
            let contents = sample.contents(x: bounds.x, y: bounds.y, dose: dose)
            for column in contents.columns where column.kind != .carbon && frame.contains(x: column.x, y: column.y) {
                let p = frame.pixel(x: column.x, y: column.y)
                columns.append(GroundTruth.Column(x: p.column, y: p.row, kind: column.kind))
            }
            for defect in contents.defects where frame.contains(x: defect.x, y: defect.y) {
                let p = frame.pixel(x: defect.x, y: defect.y)
                defects.append(GroundTruth.Defect(x: p.column, y: p.row, kind: defect.kind))
            }
        }
        return GroundTruth(
            pixelSize: frame.pixelX * 10, columns: columns, defects: defects, regions: regions, width: scan.width,
            height: scan.height)
    }
}
