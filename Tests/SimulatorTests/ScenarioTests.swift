import Foundation
import ImageNumerics
import Simulator
import Testing
import WireProtocol
import YAMLConfig

let scenarioFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Simulator/scenarios")

@Suite("Scenarios")
struct ScenarioTests {
    @Test("every example scenario parses", arguments: ["standard", "day-a-to-day-b", "faults"])
    func examplesParse(name: String) throws {
        let scenario = try Scenario.load(scenarioFolder.appendingPathComponent("\(name).yaml"))
        #expect(!scenario.name.isEmpty)
    }

    @Test("the written-out standard scenario is the built-in default")
    func standardMatches() throws {
        let written = try Scenario.load(scenarioFolder.appendingPathComponent("standard.yaml"))
        let builtIn = Scenario.standard(seed: 1)
        #expect(written.layout.pristineVacancies == builtIn.layout.pristineVacancies)
        #expect(written.layout.flakeWidth == builtIn.layout.flakeWidth)
        #expect(written.knockOnCrossSection == builtIn.knockOnCrossSection)
    }

    @Test(
        "mistakes are reported at their key and line",
        arguments: [
            ("name: x\nconditons: []\n", 2, "conditons", "did you mean 'conditions'"),
            (
                "name: x\nconditions:\n  - name: a\n    defocus_nm: four\n", 4, "conditions[0].defocus_nm",
                "expected a number"
            ),
            ("name: x\nconditions:\n  - name: a\n    current_pa: -3\n", 4, "conditions[0].current_pa", "between"),
            (
                "name: x\nsample:\n  holes:\n    - {x_nm: 1, y_nm: 2, radius: 4}\n", 4, "sample.holes[0].radius",
                "radius_nm"
            ),
            (
                "name: x\nconditions:\n  - {name: b, from_minute: 30}\n  - {name: a, from_minute: 10}\n", 4,
                "from_minute", "time order"
            ),
            ("name: x\nfaults:\n  slow_reply_every: 3\n", 3, "faults.slow_reply_every", "slow_reply_ms"),
            ("- a\n- b\n", 1, "", "top level must be a mapping"),
            ("name: [unclosed\n", 2, "", "not valid YAML"),
        ])
    func errors(text: String, line: Int, key: String, words: String) {
        do {
            _ = try Scenario.parse(text, file: "test.yaml")
            Issue.record("parsed, but should be refused")
        } catch {
            #expect(error.line == line, "\(error)")
            #expect(error.key.hasSuffix(key), "\(error)")
            #expect(error.message.contains(words), "\(error)")
            #expect(error.description.hasPrefix("test.yaml:"))
        }
    }

    @Test("conditions change on schedule: day B blurs the probe and lowers the current")
    func conditionsChange() throws {
        var scenario = try Scenario.load(scenarioFolder.appendingPathComponent("day-a-to-day-b.yaml"))
        scenario.layout.vacancyRich = []
        let scope = VirtualMicroscope(scenario: scenario)
        scope.distortion = .none
        let scan = ScanGeometry(centerX: 500, centerY: 500, fovX: 5, width: 200, height: 200, dwell: 20)
        let dayA = scope.acquire(scan, channels: ["HAADF"], deposit: false)
        scope.advance(by: 31 * 60)
        let dayB = scope.acquire(scan, channels: ["HAADF"], deposit: false)
        #expect(dayA.conditions == "day A")
        #expect(dayB.conditions == "day B")
        #expect(dayB.electronsPerPixel < dayA.electronsPerPixel)
        // Defocus and astigmatism spread the probe: atom columns are less peaked.
        func contrast(_ frame: SimulatedFrame) -> Float {
            let image = frame.expected["HAADF"]!
            return image.standardDeviation / image.mean
        }
        #expect(contrast(dayB) < 0.8 * contrast(dayA), "day A \(contrast(dayA)), day B \(contrast(dayB))")
    }

    @Test("contamination grows where the beam dwells")
    func contaminationGrows() throws {
        var scenario = Scenario.standard(seed: 5)
        scenario.layout.contamination = []
        scenario.layout.vacancyRich = []
        scenario.layout.damaged = []
        scenario.layout.holes = []
        scenario.contaminationGrowth = 1e-7
        let scope = VirtualMicroscope(scenario: scenario)
        scope.distortion = .none
        let scan = ScanGeometry(centerX: 300, centerY: -300, fovX: 4, width: 128, height: 128, dwell: 20)
        let before = scope.acquire(scan, channels: ["MAADF"]).expected["MAADF"]!.mean
        for _ in 0..<3 { _ = scope.acquire(scan, channels: ["MAADF"]) }
        let after = scope.acquire(scan, channels: ["MAADF"]).expected["MAADF"]!.mean
        #expect(after > 1.05 * before, "MAADF signal before \(before), after \(after)")
    }
}

@Suite("Shipped scenarios by name")
struct ShippedScenarioTests {
    @Test("every shipped scenario loads by name, and an unknown name lists them")
    func byName() throws {
        #expect(Scenario.bundledNames == ["day-a-to-day-b", "day-a-to-day-b-quick", "faults", "standard"])
        for name in Scenario.bundledNames { _ = try Scenario.load(nameOrPath: name) }
        #expect {
            try Scenario.load(nameOrPath: "day-c")
        } throws: { error in
            "\(error)".contains("no shipped scenario of that name") && "\(error)".contains("day-a-to-day-b")
        }
    }
}
