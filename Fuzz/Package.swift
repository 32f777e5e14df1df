// swift-tools-version: 6.1
// libFuzzer targets over ScopePilot's input surfaces. Built apart from the main package because
// every module they link is instrumented (-sanitize=fuzzer,address) and libFuzzer supplies main:
//   swift build --package-path Fuzz -c release --build-path .build-fuzz \
//     -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
// `make fuzz-short` (part of `make test`) and `make fuzz` do this; see Fuzz/README.md.
import PackageDescription

/// One executable per `FuzzTarget`, each a `main.swift` that starts libFuzzer's driver.
let names = ["FuzzFrame", "FuzzControl", "FuzzWelcome", "FuzzPolicyFile", "FuzzScenario", "FuzzImageFile"]

let package = Package(
    name: "ScopePilotFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "ScopePilot", path: "..")],
    targets: [.target(name: "CLibFuzzer")]
        + names.map { name in
            .executableTarget(
                name: name,
                dependencies: ["CLibFuzzer", .product(name: "FuzzEntryPoints", package: "ScopePilot")],
                path: "Sources/\(name)")
        }
)
