import Foundation
import Testing

@Suite("scopepilot segment", .serialized)
struct SegmentCLITests {
    static let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
        "scopepilot-segment-\(UUID().uuidString)")

    /// Renders a 512 x 512 frame at 0.25 Å/px (HAADF and MAADF) at (x, y) nm.
    static func render(_ name: String, x: Double, y: Double) async throws -> URL {
        let out = folder.appendingPathComponent(name)
        let run = try await CLI.run([
            "sim", "render", "--x=\(x)", "--y=\(y)", "--fov", "12.8", "--pixels", "512", "--dwell", "20", "--out",
            out.path,
        ])
        #expect(run.status == 0, "\(run.stderr)")
        return out
    }

    @Test("two frames of one session: a grid, an id per chip, shared ids, a summary and overlays")
    func session() async throws {
        defer { try? FileManager.default.removeItem(at: Self.folder) }
        // Inside the central contamination patch, and in pristine lattice.
        let contaminated = try await Self.render("contaminated", x: 60, y: 170)
        let pristine = try await Self.render("pristine", x: 250, y: 0)
        let out = Self.folder.appendingPathComponent("out")
        let run = try await CLI.run([
            "segment",
            contaminated.appendingPathComponent("HAADF.npy").path + "+"
                + contaminated.appendingPathComponent("MAADF.npy").path,
            pristine.appendingPathComponent("HAADF.npy").path + "+" + pristine.appendingPathComponent("MAADF.npy").path,
            "--pixel-size", "0.25", "--out", out.path, "--overlay", "--absolute",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        var used: [Set<Int>] = []
        for stem in ["contaminated-HAADF", "pristine-HAADF"] {
            let json =
                try JSONSerialization.jsonObject(
                    with: Data(contentsOf: out.appendingPathComponent("\(stem).json"))) as! [String: Any]
            let grid = json["grid"] as! [String: Int]
            // 12.8 nm frames: the automatic chip is its floor, 1.2 nm (48 px), a 10 x 10 grid.
            #expect(grid["chip_size"] == 48 && grid["columns"] == 10 && grid["rows"] == 10, "\(grid)")
            let ids = (json["communities"] as! [[Int]]).flatMap { $0 }
            #expect(ids.count == 100)
            #expect(Set(ids).count <= 3, "\(stem): a uniform area in at most three communities, \(ids)")
            used.append(Set(ids))
            let summary = json["summary"] as! [[String: Any]]
            #expect(!summary.isEmpty && summary.allSatisfy { $0["defects_per_nm2"] is Double })
            // Both frames are lattice: every community is in one of the lattice's parts.
            let parts = summary.map { $0["part"] as? String }
            #expect(parts.allSatisfy { ["lattice", "defect_rich", "covered"].contains($0 ?? "") }, "\(parts)")
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("\(stem)-communities.png").path))
        }
        // Each frame is wholly one kind of area: told apart by absolute descriptors (one dose and
        // detector here); described relative to its frame, each is its frame's usual area.
        #expect(used[0].isDisjoint(with: used[1]), "contamination and pristine lattice share a community: \(used)")

        // Channels are named by place or by NAME=, never by the files' names: a plain series of
        // differently named files is one session.
        let haadf = contaminated.appendingPathComponent("HAADF.npy").path
        let other = Self.folder.appendingPathComponent("seg_001.npy").path
        try FileManager.default.copyItem(atPath: pristine.appendingPathComponent("HAADF.npy").path, toPath: other)
        let series = try await CLI.run(["segment", haadf, other, "--pixel-size", "0.25", "--model", "none"])
        #expect(series.status == 0, "\(series.stderr)")
        #expect(series.stdout.split(separator: "\n").count == 2)
        let named = try await CLI.run([
            "segment", "HAADF=\(haadf)+MAADF=\(contaminated.appendingPathComponent("MAADF.npy").path)",
            "HAADF=\(other)+MAADF=\(pristine.appendingPathComponent("MAADF.npy").path)", "--pixel-size", "0.25",
            "--model", "none", "--out", Self.folder.appendingPathComponent("named").path,
        ])
        #expect(named.status == 0, "\(named.stderr)")
        // Outputs are named after the files, not the channel labels.
        let written = try FileManager.default.contentsOfDirectory(
            atPath: Self.folder.appendingPathComponent("named").path)
        #expect(Set(written) == ["HAADF.json", "seg_001.json"], "\(written)")
        let mixed = try await CLI.run([
            "segment", haadf + "+" + contaminated.appendingPathComponent("MAADF.npy").path, other, "--pixel-size",
            "0.25", "--model", "none",
        ])
        #expect(mixed.status != 0)
        #expect(mixed.stderr.contains("same channels, in the same order"), "\(mixed.stderr)")
    }

    @Test(
        "bad inputs are refused with reasons",
        arguments: [
            (["/nonexistent/a.npy", "--pixel-size", "0.25"], "/nonexistent/a.npy"),
            (["x.npy", "--pixel-size", "0"], "--pixel-size"),
            (["x.npy", "--pixel-size", "0.25", "--chip", "0.1"], "at least 8 px"),
            (["x.npy", "--pixel-size", "0.25", "--quality", "louvain"], "modularity or cpm"),
            (["x.npy", "--pixel-size", "0.25", "--combine", "sum"], "concatenate or average"),
            (["x.npy", "--pixel-size", "0.25", "--channels", "A,A"], "distinct names"),
        ])
    func badInputs(arguments: [String], reason: String) async throws {
        let run = try await CLI.run(["segment"] + arguments)
        #expect(run.status != 0)
        #expect(run.stderr.contains(reason), "\(run.stderr)")
    }

    @Test("eval-segmentation --set scores a labelled folder per dose and pixel size beside k-means")
    func labelledSet() async throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/abtem/segmentation")
        let run = try await CLI.run(["eval-segmentation", "--set", folder.path])
        #expect(run.status == 0, "\(run.stderr)")
        let rows = run.stdout.split(separator: "\n").filter { $0.first == " " && $0.contains("│") }
        #expect(rows.count == 6, "3 doses x 2 pixel sizes: \(run.stdout)")
        for row in rows {
            let numbers = row.split(separator: " ").compactMap { Double($0) }
            #expect(numbers.count == 11, "\(row)")
            // ARI, NMI, merged ARI, communities, then k-means' two ARIs.
            #expect(numbers.count < 11 || ((0...1).contains(numbers[6]) && numbers[8] >= 1), "\(row)")
        }
        #expect(run.stdout.contains("targets in every row: ARI ≥ 0.6, merged ARI ≥ 0.8"))
        // With pristine, vacancy-rich and contaminated lattice merged, every session meets its target;
        // over all kinds (vacuum and carbon-covered lattice told apart), five of the six.
        #expect(
            run.stdout.contains(
                "merged ARI ≥ 0.8 and above k-means in 6 of 6 rows; ARI ≥ 0.6 and above k-means in 5 of 6"),
            "\(run.stdout)")
        let wide = try await CLI.run([
            "eval-segmentation", "--set",
            folder.deletingLastPathComponent().appendingPathComponent("segmentation-wide").path,
        ])
        #expect(wide.status == 0, "\(wide.stderr)")
        #expect(
            wide.stdout.contains(
                "merged ARI ≥ 0.8 and above k-means in 2 of 2 rows; ARI ≥ 0.6 and above k-means in 2 of 2"),
            "\(wide.stdout)")
        #expect(wide.stdout.contains("targets in every row: ARI ≥ 0.6, merged ARI ≥ 0.8, both above k-means: met"))
        // Without the detector, and with each region's chips by community.
        let plain = try await CLI.run(["eval-segmentation", "--set", folder.path, "--model", "none", "--confusion"])
        #expect(plain.status == 0, "\(plain.stderr)")
        let regions = plain.stdout.split(separator: "\n").filter {
            $0.hasPrefix("    pristine") && $0.contains("community") && $0.contains("lattice order 10/50/90 %")
        }
        #expect(regions.count == 6, "\(plain.stdout)")
        // Each row names its communities' parts; the holes of the 0.2 Å/px frames are vacuum.
        let parts = plain.stdout.split(separator: "\n").filter { $0.hasPrefix("    parts: ") }
        #expect(parts.count == 6 && parts.filter { $0.contains(" vacuum") }.count >= 3, "\(plain.stdout)")
    }

    @Test("eval-segmentation prints ARI and NMI per method and the target line")
    func evaluation() async throws {
        let run = try await CLI.run(["eval-segmentation", "--pixels", "256", "--standard-only"])
        #expect(run.status == 0, "\(run.stderr)")
        let rows = run.stdout.split(separator: "\n").filter { $0.hasPrefix("mixed regions") }
        #expect(rows.count == 3, "\(run.stdout)")
        for row in rows {
            let numbers = row.split(separator: " ").compactMap { Double($0) }
            #expect(numbers.count >= 4, "\(row)")
            #expect((-1...1).contains(numbers[0]) && (0...1).contains(numbers[1]), "\(row)")
        }
        #expect(run.stdout.contains("target: ARI ≥ 0.8"))
        // Without a detector the defaults row goes without its densities, and says so.
        let none = try await CLI.run(["eval-segmentation", "--pixels", "256", "--standard-only", "--model", "none"])
        #expect(none.status == 0, "\(none.stderr)")
        #expect(none.stdout.contains("ScopePilot, no detector") && !none.stdout.contains("ScopePilot defaults"))
    }
}
