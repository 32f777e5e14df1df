// swift-tools-version: 6.1
import PackageDescription

/// Settings every Swift target shares: Swift 6 language mode (strict concurrency) plus the upcoming
/// features that make isolation and imports explicit.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "ScopePilot",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "scopepilot", targets: ["scopepilot"]),
        .library(name: "WireProtocol", targets: ["WireProtocol"]),
        .library(name: "Transport", targets: ["Transport"]),
        .library(name: "InstrumentDriver", targets: ["InstrumentDriver"]),
        .library(name: "Simulator", targets: ["Simulator"]),
        .library(name: "PolicyKit", targets: ["PolicyKit"]),
        // The input surfaces the fuzz targets in Fuzz/ drive.
        .library(name: "FuzzEntryPoints", targets: ["FuzzEntryPoints"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        // No default traits: the dashboard needs neither swift-configuration nor the Foundation extras.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // C system libraries, each behind a small shim header.
        .systemLibrary(name: "CZeroMQ", path: "Sources/CZeroMQ"),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas"),
        .systemLibrary(name: "CFFTW3", path: "Sources/CFFTW3"),
        .systemLibrary(name: "CSQLite3", path: "Sources/CSQLite3"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib"),

        // Images and the FFTW and BLAS wrappers that own their plans and buffers.
        .target(name: "ImageNumerics", dependencies: ["CFFTW3", "COpenBLAS"], swiftSettings: strictSettings),

        // The neural-network engine the detector needs, on OpenBLAS.
        // Direct-convolution kernels for inference, in C for a per-function AVX-512 target.
        .target(name: "CConvolutionKernels", path: "Sources/CConvolutionKernels"),
        .target(
            name: "NeuralNetwork", dependencies: ["COpenBLAS", "CConvolutionKernels", "ImageNumerics"],
            swiftSettings: strictSettings),

        // Single-atom defect detection: the network's use, peaks, the lattice mask, scores.
        .target(
            name: "DefectDetection", dependencies: ["NeuralNetwork", "ImageNumerics", "WireProtocol"],
            resources: [.copy("Models")], swiftSettings: strictSettings),

        // Training and evaluating the detector on the virtual microscope: tiles, the trainer,
        // scores, the realism step.
        .target(
            name: "DetectorTraining",
            dependencies: ["DefectDetection", "NeuralNetwork", "ImageNumerics", "Simulator", "WireProtocol"],
            swiftSettings: strictSettings),

        // Chip-community segmentation: chips, features, similarity graphs, Leiden communities.
        .target(
            name: "Segmentation",
            dependencies: ["DefectDetection", "NeuralNetwork", "ImageNumerics", "WireProtocol", "COpenBLAS"],
            swiftSettings: strictSettings),

        // Scoring segmentation on the virtual microscope: a session across every kind of area.
        .target(
            name: "SegmentationEvaluation",
            dependencies: ["Segmentation", "ImageNumerics", "Simulator", "WireProtocol"],
            swiftSettings: strictSettings),

        // The decision log: SQLite (WAL) through GRDB, with migrations.
        .target(
            name: "DecisionLog", dependencies: [.product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strictSettings),

        // PolicyKit: the public API scan policies are written against.
        .target(name: "PolicyKit", dependencies: ["WireProtocol", "YAMLConfig"], swiftSettings: strictSettings),

        // The policy protocol's daemon side: external policy processes (the scopepilot Python package).
        .target(
            name: "PolicyHost", dependencies: ["PolicyKit", "WireProtocol", "Transport", "ChildProcess"],
            swiftSettings: strictSettings),

        // The built-in scan policies.
        .target(
            name: "BuiltInPolicies", dependencies: ["PolicyKit", "WireProtocol"], path: "Policies",
            exclude: ["README.md", "examples"], swiftSettings: strictSettings),

        // Serial executors on threads of their own, for actors whose jobs compute or block.
        .target(name: "DedicatedThreads", swiftSettings: strictSettings),

        // The daemon's analysis stage: drift, condition monitor, detector, communities. Inference
        // only: it does not link the simulator.
        .target(
            name: "DaemonAnalysis",
            dependencies: [
                "DefectDetection", "Segmentation", "NeuralNetwork", "ImageNumerics", "WireProtocol", "PolicyKit",
                "DedicatedThreads",
            ],
            path: "Sources/Daemon/Analysis", swiftSettings: strictSettings),

        // Retraining the detector in the background, and the condition monitor's simulated baseline.
        .target(
            name: "DaemonRetraining",
            dependencies: [
                "DaemonAnalysis", "DefectDetection", "DetectorTraining", "ImageNumerics", "NeuralNetwork", "PolicyKit",
                "DedicatedThreads",
            ],
            path: "Sources/Daemon/Retraining", swiftSettings: strictSettings),

        // The daemon: session, ingest, decision, instrument link, log; the folders follow the flow.
        .target(
            name: "Daemon",
            dependencies: [
                "DaemonAnalysis", "DaemonRetraining", "Transport", "WireProtocol", "DecisionLog", "PolicyKit",
                "PolicyHost", "DefectDetection", "ImageNumerics", "ImageIO", "DedicatedThreads",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["Analysis", "Retraining"], swiftSettings: strictSettings),

        // The live view (--dashboard): a read-only page that follows a running session, on Hummingbird.
        .target(
            name: "Dashboard",
            dependencies: [
                "Daemon", "DecisionLog", "WireProtocol",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings),

        // Image files: NumPy .npy, TIFF (compressed, tiled, paged, BigTIFF), PNG, Gatan .dm3/.dm4.
        .target(name: "ImageIO", dependencies: ["ImageNumerics", "CZlib"], swiftSettings: strictSettings),
        // Folders of images with what is really in them, for scoring on data the project did not make.
        .target(
            name: "LabelledSets", dependencies: ["DefectDetection", "ImageIO", "ImageNumerics", "NeuralNetwork"],
            swiftSettings: strictSettings),

        // YAML configuration files (scenarios, policies) with errors that point at key and line.
        .target(
            name: "YAMLConfig", dependencies: [.product(name: "Yams", package: "Yams")],
            swiftSettings: strictSettings),

        // The wire protocol: message types, encoding, validation. No socket code.
        .target(name: "WireProtocol", swiftSettings: strictSettings),

        // ZeroMQ transport: sockets owned by actors on dedicated threads, CURVE keys, ZAP.
        .target(
            name: "Transport",
            dependencies: [
                "CZeroMQ", "WireProtocol",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),

        // The virtual microscope: sample, image formation, dose, ground truth.
        .target(
            name: "Simulator", dependencies: ["ImageNumerics", "WireProtocol", "YAMLConfig"], path: "Simulator",
            exclude: ["README.md"], resources: [.copy("scenarios")], swiftSettings: strictSettings),

        // Serves an instrument over the wire protocol: the base of every Swift driver adapter.
        .target(
            name: "InstrumentDriver",
            dependencies: [
                "Transport", "WireProtocol", .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),

        // The simulated driver: the virtual microscope as an Instrument.
        .target(
            name: "SimulatedDriver",
            dependencies: ["InstrumentDriver", "Simulator", "ImageIO", "ImageNumerics", "WireProtocol"],
            path: "Drivers/SimulatedDriver", swiftSettings: strictSettings),

        // The replay driver: a recorded session, or a folder of frames, as an Instrument.
        .target(
            name: "ReplayDriver",
            dependencies: [
                "InstrumentDriver", "DecisionLog", "ImageIO", "ImageNumerics", "WireProtocol", "DedicatedThreads",
            ],
            path: "Drivers/ReplayDriver", swiftSettings: strictSettings),

        // Programs ScopePilot and its tests start, with a clean signal mask, ended by their starter.
        .target(
            name: "ChildProcess", dependencies: [.product(name: "Subprocess", package: "swift-subprocess")],
            swiftSettings: strictSettings),

        // Every input surface a peer or a file reaches, as functions a libFuzzer target (Fuzz/) and
        // the corpus replay test both call.
        .target(
            name: "FuzzEntryPoints",
            dependencies: [
                "WireProtocol", "PolicyKit", "BuiltInPolicies", "Simulator", "YAMLConfig", "ImageNumerics", "ImageIO",
            ],
            swiftSettings: strictSettings),

        // Helpers the test suites share (the reference Python).
        .target(
            name: "ScopePilotTestSupport", dependencies: ["ChildProcess", "Transport", "WireProtocol"],
            swiftSettings: strictSettings),

        // The one executable.
        .executableTarget(
            name: "scopepilot",
            dependencies: [
                "Transport", "WireProtocol", "InstrumentDriver", "Simulator", "SimulatedDriver", "ReplayDriver",
                "ImageIO",
                "ImageNumerics",
                "NeuralNetwork", "DefectDetection", "DetectorTraining", "Segmentation", "SegmentationEvaluation",
                "LabelledSets", "Daemon", "Dashboard",
                "DecisionLog", "PolicyKit", "PolicyHost",
                "BuiltInPolicies", "COpenBLAS", "CFFTW3", "CSQLite3",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/ScopePilotCLI",
            swiftSettings: strictSettings
        ),

        // Benchmarks print figures beside a named peer; they are not tests.
        .executableTarget(
            name: "scopepilot-bench",
            dependencies: [
                "Transport", "WireProtocol", "InstrumentDriver", "Simulator", "DefectDetection", "DetectorTraining",
                "NeuralNetwork", "ImageNumerics", "ImageIO", "COpenBLAS", "Segmentation", "SegmentationEvaluation",
                "Daemon",
                "Dashboard", "DecisionLog", "PolicyKit", "PolicyHost",
                "BuiltInPolicies", "SimulatedDriver",
                "ChildProcess", "ScopePilotTestSupport",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/ScopePilotBench",
            swiftSettings: strictSettings
        ),

        .testTarget(name: "WireProtocolTests", dependencies: ["WireProtocol"], swiftSettings: strictSettings),
        .testTarget(
            name: "FuzzCorpusTests", dependencies: ["FuzzEntryPoints", "WireProtocol"],
            swiftSettings: strictSettings),
        .testTarget(name: "ImageNumericsTests", dependencies: ["ImageNumerics"], swiftSettings: strictSettings),
        .testTarget(
            name: "PolicyKitTests", dependencies: ["PolicyKit", "BuiltInPolicies", "WireProtocol"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "DecisionLogTests",
            dependencies: ["DecisionLog", .product(name: "GRDB", package: "GRDB.swift")], swiftSettings: strictSettings),
        .testTarget(
            name: "DaemonTests",
            dependencies: [
                "Daemon", "DaemonAnalysis", "DaemonRetraining", "DetectorTraining", "Transport", "WireProtocol",
                "InstrumentDriver", "SimulatedDriver", "ReplayDriver", "Simulator", "PolicyKit",
                "BuiltInPolicies", "DecisionLog", "DefectDetection", "ImageIO", "ImageNumerics", "NeuralNetwork",
                "ScopePilotTestSupport",
                "CSQLite3",
            ],
            swiftSettings: strictSettings),
        .testTarget(
            name: "DashboardTests",
            dependencies: [
                "Dashboard", "Daemon", "DecisionLog", "ScopePilotTestSupport",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings),
        .testTarget(
            name: "SegmentationTests",
            dependencies: ["Segmentation", "SegmentationEvaluation", "ImageNumerics"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "CLITests",
            dependencies: [
                "DefectDetection", "DetectorTraining", "NeuralNetwork", "ScopePilotTestSupport", "scopepilot",
                "DecisionLog",
                "InstrumentDriver", "SimulatedDriver", "Simulator", "Transport", "WireProtocol",
                "ChildProcess",
            ],
            swiftSettings: strictSettings),
        .testTarget(
            name: "DefectDetectionTests",
            dependencies: [
                "DefectDetection", "DetectorTraining", "NeuralNetwork", "Simulator", "ImageNumerics", "WireProtocol",
                "ImageIO",
            ],
            swiftSettings: strictSettings),
        .testTarget(
            name: "NeuralNetworkTests",
            dependencies: ["NeuralNetwork", "ImageIO", "ImageNumerics", "ScopePilotTestSupport"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "LabelledSetsTests",
            dependencies: [
                "LabelledSets", "DefectDetection", "ImageIO", "ImageNumerics", "Segmentation", "SegmentationEvaluation",
            ],
            swiftSettings: strictSettings),
        .testTarget(
            name: "ImageIOTests", dependencies: ["ImageIO", "ImageNumerics", "ScopePilotTestSupport"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "SimulatorTests",
            dependencies: [
                "Simulator", "SimulatedDriver", "InstrumentDriver", "Transport", "ImageNumerics", "WireProtocol",
                "ScopePilotTestSupport",
            ],
            swiftSettings: strictSettings),
        .testTarget(
            name: "TransportTests",
            dependencies: ["Transport", "WireProtocol", "InstrumentDriver", "CZeroMQ", "ScopePilotTestSupport"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "InteropTests",
            dependencies: [
                "Transport", "WireProtocol", "InstrumentDriver", "SimulatedDriver", "Simulator",
                "ScopePilotTestSupport",
                "ChildProcess",
                "Daemon", "DecisionLog", "PolicyKit", "BuiltInPolicies",
            ],
            exclude: ["python"], swiftSettings: strictSettings),
        .testTarget(
            name: "PolicyHostTests",
            dependencies: [
                "PolicyHost", "PolicyKit", "WireProtocol", "Transport", "ChildProcess", "ScopePilotTestSupport",
            ],
            swiftSettings: strictSettings),
        .testTarget(
            name: "CSystemLibrariesTests", dependencies: ["COpenBLAS", "CFFTW3", "CSQLite3", "CZeroMQ"],
            swiftSettings: strictSettings),
    ],
    swiftLanguageModes: [.v6]
)
