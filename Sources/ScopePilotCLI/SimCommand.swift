import ArgumentParser
import Foundation
import ImageIO
import ImageNumerics
import InstrumentDriver
import Logging
import ServiceLifecycle
import SimulatedDriver
import Simulator
import Transport
import UnixSignals
import WireProtocol

/// `scopepilot sim`: the virtual microscope.
struct SimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim", abstract: "The virtual microscope: serve it as a driver, or render single frames.",
        subcommands: [Serve.self, Render.self], defaultSubcommand: Serve.self)

    /// `scopepilot sim [serve]`.
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve the virtual microscope over the wire protocol, as a driver adapter would.",
            discussion: """
                Publishes frames on --feed and takes commands on --control (docs/PROTOCOL.md). With --truth DIR, \
                each frame's ground truth is written to DIR/SESSION/SEQ.json and SEQ-regions.png; the daemon \
                never reads it. Stop with Ctrl-C: the beam is blanked and the sockets flushed.
                """)

        @Option(
            help:
                "Scenario: a YAML file, or a shipped one by name (standard, day-a-to-day-b, faults). Default: the standard sample, no faults."
        )
        var scenario: String?
        @OptionGroup var driver: DriverOptions
        @Option(help: "Sample seed (when no scenario gives one).") var seed: UInt64 = 1
        @Option(help: "Noise seed.") var noiseSeed: UInt64 = 1
        @Option(help: "Folder for ground truth (not written when absent).") var truth: String?
        @Flag(help: "Take as long per scan as the instrument would (default: as fast as possible).")
        var realtime = false

        func run() async throws {
            let loaded = try scenario.map { try Scenario.load(nameOrPath: $0) } ?? .standard(seed: seed)
            let scope = VirtualMicroscope(scenario: loaded, noiseSeed: noiseSeed)
            let instrument = SimulatedInstrument(
                scope: scope, truthDirectory: truth.map { URL(fileURLWithPath: $0, isDirectory: true) },
                realtime: realtime)
            var configuration = try driver.configuration()
            configuration.faults = FaultPlan(loaded.faults)
            try await DriverOptions.serve(instrument, configuration: configuration, label: "scopepilot.sim") {
                runtime in
                print(
                    "virtual microscope: feed \(runtime.feedEndpoint), commands \(runtime.controlEndpoint), session \(await runtime.session)"
                )
            }
            print("stopped: the beam is blanked")
        }
    }

    /// `scopepilot sim render`.
    struct Render: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Render one frame of the virtual microscope, with its ground truth, into a folder.",
            discussion: """
                Writes, for each channel, CHANNEL.npy (float32 ADU), CHANNEL.tif (16-bit) and CHANNEL.png \
                (a stretched preview); labels.json (pixel size, atom columns and defects in pixel \
                coordinates, x = column, y = row, origin top-left); and regions.png (the region map, colour-coded).
                Pixels of 0.5 Å or less render atoms; larger pixels render the region map's mass-thickness contrast.
                """)

        @Option(help: "Scenario: a YAML file or a shipped name. Default: the standard sample.") var scenario: String?
        @Option(help: "Simulated minutes into the scenario (its conditions at that time apply).") var minute: Double = 0
        @Option(parsing: .unconditional, help: "Scan centre x, nm (stage coordinates).") var x: Double = 0
        @Option(parsing: .unconditional, help: "Scan centre y, nm.") var y: Double = 0
        @Option(help: "Field of view, nm.") var fov: Double = 8
        @Option(help: "Pixels per side.") var pixels: Int = 512
        @Option(help: "Dwell per pixel, us.") var dwell: Double = 20
        @Option(parsing: .unconditional, help: "Scan rotation, degrees.") var rotation: Double = 0
        @Option(help: "Probe current, pA (default: the scenario's, else 30).") var current: Double?
        @Option(parsing: .unconditional, help: "Defocus, nm (default: the scenario's, else 0).") var defocus: Double?
        @Option(help: "Sample seed.") var seed: UInt64 = 1
        @Option(help: "Noise seed.") var noiseSeed: UInt64 = 1
        @Option(parsing: .upToNextOption, help: "Detectors.") var channels: [String] = ["HAADF", "MAADF"]
        @Option(help: "Output folder (created if missing).") var out: String

        func validate() throws {
            guard fov > 0, fov.isFinite, fov <= 5000 else {
                throw ValidationError("--fov must be between 0 and 5000 nm")
            }
            guard (16...4096).contains(pixels) else { throw ValidationError("--pixels must be 16 to 4096") }
            guard dwell > 0, dwell <= 10_000 else { throw ValidationError("--dwell must be between 0 and 10000 us") }
            if let current, !(current > 0 && current <= 10_000) {
                throw ValidationError("--current must be between 0 and 10000 pA")
            }
            guard minute >= 0, minute.isFinite else { throw ValidationError("--minute must be 0 or more") }
            let known = Set([Detector.haadf.name, Detector.maadf.name])
            if let unknown = channels.first(where: { !known.contains($0) }) {
                throw ValidationError(
                    "unknown detector '\(unknown)'; the virtual microscope has \(known.sorted().joined(separator: ", "))"
                )
            }
        }

        func run() throws {
            let loaded = try scenario.map { try Scenario.load(nameOrPath: $0) } ?? .standard(seed: seed)
            let scope = VirtualMicroscope(scenario: loaded, noiseSeed: noiseSeed)
            // Options given on the command line win over the scenario's conditions at that time.
            var overrides = ConditionSet(name: "command line", start: minute * 60)
            overrides.current = current
            overrides.defocus = defocus
            if current != nil || defocus != nil {
                scope.schedule.insert(
                    overrides, at: scope.schedule.lastIndex { $0.start <= minute * 60 }.map { $0 + 1 } ?? 0)
            }
            scope.advance(by: minute * 60)
            let scan = ScanGeometry(
                centerX: x, centerY: y, fovX: fov, width: pixels, height: pixels, dwell: dwell, rotation: rotation)
            let start = ContinuousClock.now
            let frame = scope.acquire(scan, channels: channels)
            let elapsed = ContinuousClock.now - start
            let folder = URL(fileURLWithPath: out, isDirectory: true)
            do {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            } catch {
                throw ValidationError("cannot create \(out): \(error.localizedDescription)")
            }
            for name in channels {
                guard let image = frame.channels[name] else { continue }
                try NumpyFile.write(image, as: .float32, to: folder.appendingPathComponent("\(name).npy"))
                try TIFFFile.write(image, as: .uint16, to: folder.appendingPathComponent("\(name).tif"))
                try PNGFile.writeStretched(image, to: folder.appendingPathComponent("\(name).png"))
            }
            try RegionPalette.write(frame.truth, to: folder.appendingPathComponent("regions.png"))
            try GroundTruthRecord(frame.truth, scan: scan, conditions: frame.conditions).json()
                .write(to: folder.appendingPathComponent("labels.json"))
            let counts = Dictionary(grouping: frame.truth.defects, by: \.kind).mapValues(\.count)
            print(
                "rendered \(pixels)x\(pixels), \(String(format: "%.3f", scan.pixelSizeX * 10)) Å/px,"
                    + " \(String(format: "%.0f", frame.electronsPerPixel)) e/px, in \(elapsed)")
            print(
                "defects: "
                    + PointDefect.Kind.allCases.map { "\($0.rawValue) \(counts[$0] ?? 0)" }.joined(separator: ", "))
            print(
                "wrote \(channels.map { "\($0).npy/.tif/.png" }.joined(separator: ", ")), labels.json, regions.png into \(out)"
            )
        }
    }
}

/// Colours of the region map, by `RegionKind`.
enum RegionPalette {
    static let colours: [RegionKind: [UInt8]] = [
        .vacuum: [0, 0, 0], .pristine: [70, 130, 180], .vacancyRich: [240, 200, 40], .damaged: [220, 60, 50],
        .contaminated: [120, 190, 90], .edge: [200, 120, 220],
    ]

    static func write(_ truth: GroundTruth, to url: URL) throws {
        var pixels: [UInt8] = []
        pixels.reserveCapacity(truth.regions.count * 3)
        for label in truth.regions {
            pixels += colours[RegionKind(rawValue: Int(label)) ?? .vacuum] ?? [0, 0, 0]
        }
        try PNGFile.write(width: truth.width, height: truth.height, channels: 3, pixels: pixels, to: url)
    }
}
