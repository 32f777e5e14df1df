import DecisionLog
import Foundation
import ScopePilotTestSupport
import Testing

@Suite("scopepilot demo and log", .serialized)
struct DemoAndLogCLITests {
    static let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
        "scopepilot-demo-\(UUID().uuidString)")

    @Test("demo runs the loop end to end and its log can be reviewed and exported")
    func demoThenReview() async throws {
        try FileManager.default.createDirectory(at: Self.folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: Self.folder) }
        let db = Self.folder.appendingPathComponent("demo.sqlite").path
        let demo = try await CLI.run(["demo", "--frames", "3", "--pixels", "128", "--model", "se1", "--db", db])
        #expect(demo.status == 0, "\(demo.stderr)")
        for words in ["Summary", "3 analysed", "defects", "present", "latency", "scopepilot log decisions"] {
            #expect(demo.stdout.contains(words), "the summary lacks '\(words)'")
        }

        let sessions = try await CLI.run(["log", "sessions", "--db", db])
        #expect(sessions.status == 0)
        #expect(sessions.stdout.contains("finished"))
        #expect(sessions.stdout.contains("raster-survey"))

        let show = try await CLI.run(["log", "show", "latest", "--db", db])
        #expect(show.status == 0)
        #expect(show.stdout.contains("decisions_without_command"))

        let decisions = try await CLI.run(["log", "decisions", "latest", "--db", db])
        #expect(decisions.status == 0)
        let lines = decisions.stdout.split(separator: "\n")
        // A header, three scans, the end of the session and blanking the beam.
        #expect(lines.count == 6, "\(decisions.stdout)")
        #expect(lines.dropFirst().prefix(3).allSatisfy { $0.contains("scan") && $0.contains("done") })
        #expect(lines.last?.contains("blank_beam") == true)

        let csv = Self.folder.appendingPathComponent("csv")
        let export = try await CLI.run(["log", "export", "latest", "--db", db, "--format", "csv", "--out", csv.path])
        #expect(export.status == 0, "\(export.stderr)")
        let frames = try String(contentsOf: csv.appendingPathComponent("frames.csv"), encoding: .utf8)
        #expect(frames.split(separator: "\n").count == 4, "a header and three frames")
        let json = try await CLI.run(["log", "export", "latest", "--db", db, "--format", "json"])
        let document = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((document?["decisions"] as? [Any])?.count == 5)
        // Numbers stay numbers and the log's JSON columns are objects, so pandas reads them typed.
        let frame = try #require((document?["frames"] as? [[String: Any]])?.first)
        #expect(frame["width"] as? Int == 128, "\(String(describing: frame["width"]))")
        #expect(frame["dose_e_per_A2"] as? Double ?? 0 > 0)
        #expect((frame["scan"] as? [String: Any])?["width"] as? Int == 128)
        #expect((frame["optics"] as? [String: Any])?["beam_energy_kv"] != nil)
        let detection = (document?["detections"] as? [[String: Any]])?.first
        #expect(detection == nil || detection?["stage_x_nm"] is Double)
        let decision = try #require((document?["decisions"] as? [[String: Any]])?.first)
        #expect(decision["chosen"] is [String: Any] && decision["id"] is Int)
    }

    @Test("report writes one self-contained page: the stage map, dose, timeline with refusals marked, frames")
    func report() async throws {
        try FileManager.default.createDirectory(at: Self.folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: Self.folder) }
        let db = Self.folder.appendingPathComponent("report.sqlite").path
        // A raster of three whose third region lies outside the envelope: one refusal.
        let policy = Self.folder.appendingPathComponent("refusing.yaml")
        try """
        policy: raster-survey
        parameters: {center_nm: [-120, 60], columns: 3, rows: 1, fov_nm: 3.2, pixels: 128, dwell_us: 5}
        envelope: {stage_x_nm: [-1000, -119]}
        """.write(to: policy, atomically: true, encoding: .utf8)
        let demo = try await CLI.run(["demo", "--policy", policy.path, "--model", "se1", "--db", db])
        #expect(demo.status == 0, "\(demo.stderr)")
        #expect(demo.stdout.contains(" report "), "the summary names the report command")
        let out = Self.folder.appendingPathComponent("report")
        let report = try await CLI.run(["report", "latest", "--db", db, "--out", out.path])
        #expect(report.status == 0, "\(report.stderr)")
        let page = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
        func count(_ needle: String) -> Int { page.components(separatedBy: needle).count - 1 }
        let log = try DecisionLog(path: db)
        let frames = try log.query("SELECT COUNT(*) FROM frames").rows.first?.first ?? nil
        let detections = try log.query("SELECT COUNT(*) FROM detections").rows.first?.first ?? nil
        let decisions = try log.query("SELECT COUNT(*) FROM decisions").rows.first?.first ?? nil
        #expect(count("<svg class=\"zoomable map\"") == 1)
        #expect("\(count("class=\"region\""))" == frames, "one region per frame")
        #expect("\(count("class=\"detection\""))" == detections, "every detection on the map")
        #expect(count("<figure>") == Int(frames ?? "") ?? -1, "a thumbnail per frame")
        #expect(count("<tr class=") == Int(decisions ?? "") ?? -1, "a timeline row per decision")
        #expect(count("<tr class=\"trouble\"") == 1, "the refused decision is highlighted")
        #expect(page.contains("REFUSED"))
        #expect(page.contains("<img class=\"dose\" alt=\"dose map\" src=\"data:image/png;base64,"))
        // Self-contained: nothing is fetched (the one URL is SVG's namespace).
        #expect(
            page.components(separatedBy: "http").count - 1 == page.components(separatedBy: "http://www.w3.org/2000/svg")
                .count - 1)
        #expect(!page.contains("<script src"))
        let missing = try await CLI.run(["report", "s-none", "--db", db, "--out", out.path])
        #expect(missing.status != 0 && missing.stderr.contains("no session s-none"))
    }

    @Test("the report's timeline shows a Python policy's candidates with their scores")
    func reportShowsCandidates() async throws {
        try FileManager.default.createDirectory(at: Self.folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: Self.folder) }
        let db = Self.folder.appendingPathComponent("candidates.sqlite").path
        let policy = TestPython.repository.appendingPathComponent("Policies/examples/python/darkest-communities.yaml")
        let demo = try await CLI.run(["demo", "--policy", policy.path, "--model", "none", "--db", db])
        #expect(demo.status == 0, "\(demo.stderr)")
        let out = Self.folder.appendingPathComponent("candidates-report")
        let report = try await CLI.run(["report", "latest", "--db", db, "--out", out.path])
        #expect(report.status == 0, "\(report.stderr)")
        let page = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
        // A zoom's row: its candidates counted, the first with its score (minus the chip's brightness).
        #expect(page.contains(#"<br><small>scan ("#) && page.contains("µs <b>-"), "no candidates with scores")
    }

    @Test("the faults scenario: no log write fails, and the summary's figures are the log's")
    func faultsScenario() async throws {
        try FileManager.default.createDirectory(at: Self.folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: Self.folder) }
        let db = Self.folder.appendingPathComponent("faults.sqlite").path
        let demo = try await CLI.run([
            "demo", "--scenario", "faults", "--frames", "20", "--pixels", "128", "--model", "none", "--db", db,
        ])
        #expect(demo.status == 0, "\(demo.stderr)")
        #expect(!demo.stdout.contains("FAILED"), "\(demo.stdout)")
        #expect(!demo.stderr.contains("could not log"), "\(demo.stderr)")
        #expect(demo.stdout.contains("refused by the envelope 0"), "a bad drift estimate must not push targets out")
        let show = try await CLI.run(["log", "show", "latest", "--db", db])
        func figure(_ text: String, after label: String) -> Int? {
            guard
                let line = text.split(separator: "\n").first(where: {
                    $0.trimmingCharacters(in: .whitespaces).hasPrefix(label)
                })
            else { return nil }
            return line.split(separator: " ").compactMap { Int($0) }.first
        }
        let received = demo.stdout.firstMatch(of: /(\d+) received and logged/).map { Int($0.1) } ?? nil
        #expect(received != nil && received == figure(show.stdout, after: "frames "), "\(demo.stdout)\n\(show.stdout)")
        let lost = demo.stdout.firstMatch(of: /(\d+) lost/).map { Int($0.1) } ?? nil
        #expect(lost != nil && figure(show.stdout, after: "lost_frames") == lost, "\(demo.stdout)\n\(show.stdout)")
        let log = try DecisionLog(path: db)
        let session = try #require(log.sessions().column("session").first ?? nil)
        #expect(try log.session(session).column("status").first == "finished")
    }

    @Test("review of a missing log, an unknown session and a broken policy file say what is wrong")
    func mistakes() async throws {
        try FileManager.default.createDirectory(at: Self.folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: Self.folder) }
        let missing = try await CLI.run(["log", "sessions", "--db", "/nonexistent/log.sqlite"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("no decision log at /nonexistent/log.sqlite"))

        let policy = Self.folder.appendingPathComponent("broken.yaml")
        try "policy: raster-survey\nparameters:\n  colums: 3\n".write(to: policy, atomically: true, encoding: .utf8)
        let run = try await CLI.run([
            "run", "--feed", "tcp://127.0.0.1:1", "--control", "tcp://127.0.0.1:2", "--policy", policy.path, "--db",
            Self.folder.appendingPathComponent("x.sqlite").path,
        ])
        #expect(run.status != 0)
        #expect(run.stderr.contains("broken.yaml:3"), "\(run.stderr)")
        #expect(run.stderr.contains("did you mean 'columns'"))

        let check = try await CLI.run(["policy", "check", policy.path])
        #expect(check.status == 1)
        #expect(check.stderr.contains("broken.yaml:3:3: parameters.colums"), "\(check.stderr)")

        // A live view's address is checked before anything starts.
        for command in ["run", "demo"] {
            let arguments =
                command == "run" ? ["--feed", "tcp://127.0.0.1:1", "--control", "tcp://127.0.0.1:2", "--db", "x"] : []
            let dashboard = try await CLI.run([command] + arguments + ["--dashboard", "127.0.0.1:99999"])
            #expect(dashboard.status != 0)
            #expect(dashboard.stderr.contains("the port must be a number from 0 to 65535"), "\(dashboard.stderr)")
        }
    }

    @Test("policy eval runs policies side by side on the virtual microscope")
    func policyEval() async throws {
        try FileManager.default.createDirectory(at: Self.folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: Self.folder) }
        let raster = Self.folder.appendingPathComponent("raster.yaml")
        try "policy: raster-survey\nparameters: {columns: 2, rows: 1, fov_nm: 2.56, pixels: 128}\n".write(
            to: raster, atomically: true, encoding: .utf8)
        let explorer = Self.folder.appendingPathComponent("explorer.yaml")
        try """
        policy: community-explorer
        parameters: {survey_fov_nm: 200, survey_pixels: 128, zoom_fov_nm: 2.56, zoom_pixels: 128, zooms: 2}
        envelope: {max_step_nm: 400}
        """.write(to: explorer, atomically: true, encoding: .utf8)
        let logs = Self.folder.appendingPathComponent("logs")
        let eval = try await CLI.run([
            "policy", "eval", raster.path, explorer.path, "--frames", "4", "--seeds", "2", "--keep", logs.path,
        ])
        #expect(eval.status == 0, "\(eval.stderr)")
        let lines = eval.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("frames analysed") && $0.contains("2") })
        #expect(lines.contains { $0.hasPrefix("defects found / present") })
        #expect(lines.contains { $0.hasPrefix("F1") && $0.contains("±") }, "two seeds give a spread")
        #expect(eval.stdout.contains("raster-survey, seed 2: raster complete"))
        #expect(eval.stdout.contains("community-explorer, seed 1:"))
        let kept = try FileManager.default.contentsOfDirectory(atPath: logs.path).filter { $0.hasSuffix(".sqlite") }
        #expect(kept.count == 4)
    }

    @Test("every example policy file passes 'scopepilot policy check'")
    func examplePolicies() async throws {
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Policies/examples")
        let files = try FileManager.default.contentsOfDirectory(atPath: examples.path).filter { $0.hasSuffix(".yaml") }
        #expect(!files.isEmpty)
        for file in files {
            let check = try await CLI.run(["policy", "check", examples.appendingPathComponent(file).path])
            #expect(check.status == 0, "\(file): \(check.stderr)")
            #expect(check.stdout.contains(": ok: "))
        }
    }
}
