import ArgumentParser

/// `scopepilot version`: what this build is and what it is linked with.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version", abstract: "Print the version of ScopePilot, its wire protocol and its C libraries.")

    func run() {
        print("scopepilot \(BuildInfo.version)")
        for (name, version) in BuildInfo.libraries { print("  \(name): \(version)") }
    }
}
