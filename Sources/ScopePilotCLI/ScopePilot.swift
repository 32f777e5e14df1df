import ArgumentParser

/// `scopepilot`: the self-driving STEM daemon and its tools.
@main
struct ScopePilot: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scopepilot",
        abstract: "Runs a scanning transmission electron microscope unattended, and the tools around it.",
        discussion: """
            A driver adapter streams frames over ZeroMQ; ScopePilot analyses them, decides where to \
            look next, sends the commands back, and logs every decision. See README.md and \
            docs/PROTOCOL.md.
            """,
        version: BuildInfo.version,
        subcommands: [
            VersionCommand.self, KeysCommand.self, SimCommand.self, ReplayCommand.self, TrainCommand.self,
            DetectCommand.self,
            EvalDetectorCommand.self, SegmentCommand.self, EvalSegmentationCommand.self,
            RunCommand.self, DemoCommand.self, LogCommand.self, ReportCommand.self, PolicyCommand.self,
            RealismCommand.self,
        ]
    )
}
