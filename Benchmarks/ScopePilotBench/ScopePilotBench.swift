import ArgumentParser

/// `scopepilot-bench`: benchmarks that print figures beside a named peer measured in the same run.
@main
struct ScopePilotBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scopepilot-bench",
        abstract: "ScopePilot benchmarks. Each prints its figures beside a peer measured in the same run.",
        subcommands: [
            FeedBenchmark.self, SimulatorBenchmark.self, DetectorBenchmark.self, LeidenBenchmark.self,
            DriftBenchmark.self, LatencyBenchmark.self, PolicyBenchmark.self, FrameStoreBenchmark.self,
            FeedPublisherProcess.self,
        ])
}
