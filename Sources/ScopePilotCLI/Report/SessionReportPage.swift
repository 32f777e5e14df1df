import Foundation
import ImageIO

/// The session report: one self-contained HTML page (figures inline as SVG and PNG, no network),
/// with the stage map, the dose map, the decisions' timeline, drift and condition over time, the
/// latency per stage, thumbnails with their detections, and the summary.
struct SessionReportPage {
    let recordings: SessionRecordings
    /// At most this many chips and detections are drawn on the stage map (a long session's are
    /// sampled evenly), so that the page stays light.
    var mapMarks = 20_000

    // MARK: - The page

    func html() -> String {
        let r = recordings
        let id = r.session["id"] ?? "?"
        var page = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>ScopePilot session \(Self.escape(id))</title>
            <style>\(Self.style)</style></head><body>
            <h1>Session \(Self.escape(id))</h1>
            """
        page += summary()
        page += section("Where it looked", id: "map", stageMap())
        page += section("Dose", id: "dose", doseMap())
        page += section("Decisions", id: "timeline", timeline())
        page += section("Drift and conditions", id: "drift", driftAndCondition())
        page += section("Latency per stage", id: "latency", latency())
        page += section("Frames", id: "frames", thumbnails())
        page += "<script>\(Self.zoomScript)</script></body></html>\n"
        return page
    }

    func section(_ title: String, id: String, _ body: String) -> String {
        "<section id=\"\(id)\"><h2>\(title)</h2>\(body)</section>\n"
    }

    // MARK: - Summary

    func summary() -> String {
        let r = recordings
        func field(_ key: String) -> String { Self.escape(r.session[key] ?? "-") }
        func time(_ key: String) -> String {
            guard let seconds = r.session[key].flatMap(Double.init) else { return "-" }
            return ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: seconds))
        }
        let commands = r.decisions.filter { $0.command != nil }
        let notDone = commands.filter { $0.status != "done" }.count
        let refused = r.decisions.filter(\.refused).count
        let electrons = r.frames.compactMap(\.electrons).reduce(0, +)
        let analysedModels = Set(r.frames.compactMap(\.model))
        let rows: [(String, String)] = [
            ("policy", "\(field("policy")) \(field("policy_version"))"),
            ("status", "\(field("status")): \(field("end_reason"))"),
            ("started / ended", "\(time("started_at")) / \(time("ended_at"))"),
            ("frames", "\(r.frames.count) logged, \(r.lost) lost for good, \(r.rejected) inputs refused"),
            (
                "decisions",
                "\(r.decisions.count), \(commands.count) commands (\(notDone) not done), \(refused) refused by the envelope"
            ),
            ("defects", "\(r.detections.count) detected"),
            ("communities", "\(Set(r.chips.map(\.community)).count)"),
            ("electrons", String(format: "%.3g", electrons)),
            ("detector models", analysedModels.isEmpty ? "none ran" : analysedModels.sorted().joined(separator: ", ")),
            (
                "retrainings",
                "\(r.retrainings.count)"
                    + (r.retrainings.isEmpty ? "" : ": " + r.retrainings.map(\.status).joined(separator: ", "))
            ),
        ]
        return "<table class=\"summary\">"
            + rows.map { "<tr><th>\($0.0)</th><td>\($0.1)</td></tr>" }.joined() + "</table>\n"
    }

    // MARK: - The stage map

    /// The area every region covers, nm, with a margin.
    func extent() -> (minX: Double, minY: Double, maxX: Double, maxY: Double)? {
        let frames = recordings.frames
        guard !frames.isEmpty else { return nil }
        var e = (minX: Double.infinity, minY: Double.infinity, maxX: -Double.infinity, maxY: -Double.infinity)
        for f in frames {
            e.minX = min(e.minX, f.x - f.fovX / 2)
            e.maxX = max(e.maxX, f.x + f.fovX / 2)
            e.minY = min(e.minY, f.y - f.fovY / 2)
            e.maxY = max(e.maxY, f.y + f.fovY / 2)
        }
        let margin = max(e.maxX - e.minX, e.maxY - e.minY) * 0.05 + 1
        return (e.minX - margin, e.minY - margin, e.maxX + margin, e.maxY + margin)
    }

    func stageMap() -> String {
        let r = recordings
        guard let e = extent() else { return "<p>No frames.</p>" }
        let side = max(e.maxX - e.minX, e.maxY - e.minY)
        let doses = r.frames.compactMap(\.dose).filter { $0 > 0 }
        let (low, high) = (doses.min() ?? 1, doses.max() ?? 1)
        func colour(_ dose: Double?) -> String {
            guard let dose, dose > 0, high > low else { return Self.viridis(0.5) }
            return Self.viridis((log(dose) - log(low)) / (log(high) - log(low)))
        }
        // SVG y grows downwards; the stage's grows upwards: y is drawn negated.
        var svg = """
            <svg class="zoomable map" viewBox="\(Self.n(e.minX)) \(Self.n(-e.maxY)) \(Self.n(e.maxX - e.minX)) \(Self.n(e.maxY - e.minY))" \
            xmlns="http://www.w3.org/2000/svg"><g id="regions">
            """
        let small = side / 150
        for (order, f) in r.frames.enumerated() {
            svg +=
                "<rect class=\"region\" x=\"\(Self.n(f.x - f.fovX / 2))\" y=\"\(Self.n(-f.y - f.fovY / 2))\" "
                + "width=\"\(Self.n(f.fovX))\" height=\"\(Self.n(f.fovY))\" fill=\"\(colour(f.dose))\" "
                + "fill-opacity=\"0.55\"><title>frame \(f.seq) (visit \(order + 1)): \(Self.n(f.fovX)) nm, "
                + "\(f.dose.map { String(format: "%.3g e/Å²", $0) } ?? "dose unknown")</title></rect>"
            if max(f.fovX, f.fovY) < small {
                // A region too small to see at this scale is ringed.
                svg +=
                    "<circle class=\"small-region\" cx=\"\(Self.n(f.x))\" cy=\"\(Self.n(-f.y))\" r=\"\(Self.n(small))\"/>"
            }
        }
        svg += "</g><g id=\"communities\">"
        let chipStride = max(1, r.chips.count / max(mapMarks, 1))
        let sides = Dictionary(r.frames.map { ($0.id, $0.chipSide ?? 0) }, uniquingKeysWith: { a, _ in a })
        for chip in r.chips.enumerated().filter({ $0.offset % chipStride == 0 }).map(\.element) {
            let s = sides[chip.frame] ?? 0
            guard s > 0 else { continue }
            svg +=
                "<rect x=\"\(Self.n(chip.x - s / 2))\" y=\"\(Self.n(-chip.y - s / 2))\" width=\"\(Self.n(s))\" "
                + "height=\"\(Self.n(s))\" fill=\"\(Self.communityColour(chip.community))\" fill-opacity=\"0.35\"/>"
        }
        svg += "</g><g id=\"detections\">"
        let located = r.detections.compactMap { d in d.x.flatMap { x in d.y.map { (x, $0) } } }
        let detectionStride = max(1, located.count / max(mapMarks, 1))
        let radius = max(side / 500, 0.05)
        for (index, (x, y)) in located.enumerated() where index % detectionStride == 0 {
            svg += "<circle class=\"detection\" cx=\"\(Self.n(x))\" cy=\"\(Self.n(-y))\" r=\"\(Self.n(radius))\"/>"
        }
        svg += "</g><polyline id=\"order\" fill=\"none\" points=\""
        svg += r.frames.map { "\(Self.n($0.x)),\(Self.n(-$0.y))" }.joined(separator: " ")
        svg += "\" stroke-width=\"\(Self.n(side / 600))\"/>"
        for (order, f) in r.frames.enumerated() where r.frames.count <= 200 {
            svg +=
                "<text x=\"\(Self.n(f.x))\" y=\"\(Self.n(-f.y))\" font-size=\"\(Self.n(side / 60))\">\(order + 1)</text>"
        }
        svg += "</svg>"
        let legend = String(
            format:
                "Regions coloured by dose (log scale, %.3g to %.3g e/Å²), chips by community, detections as red dots, "
                + "the line joins visits in order. Scroll to zoom, drag to pan, double-click to reset. Sample coordinates, nm; "
                + "x %.0f to %.0f, y %.0f to %.0f.", low, high, e.minX, e.maxX, e.minY, e.maxY)
        return svg + "<p class=\"legend\">\(legend)"
            + (chipStride > 1 || detectionStride > 1
                ? " Every \(max(chipStride, detectionStride))th chip and detection drawn." : "") + "</p>"
    }

    // MARK: - The dose map

    func doseMap(side: Int = 256) -> String {
        guard let e = extent() else { return "<p>No frames.</p>" }
        let cell = max(e.maxX - e.minX, e.maxY - e.minY) / Double(side)
        let columns = max(1, Int(((e.maxX - e.minX) / cell).rounded(.up)))
        let rows = max(1, Int(((e.maxY - e.minY) / cell).rounded(.up)))
        var dose = [Double](repeating: 0, count: columns * rows)
        for f in recordings.frames {
            guard let d = f.dose, d.isFinite, d > 0 else { continue }
            let c0 = max(0, Int((f.x - f.fovX / 2 - e.minX) / cell))
            let c1 = min(columns - 1, Int((f.x + f.fovX / 2 - e.minX) / cell))
            let r0 = max(0, Int((e.maxY - (f.y + f.fovY / 2)) / cell))
            let r1 = min(rows - 1, Int((e.maxY - (f.y - f.fovY / 2)) / cell))
            guard c0 <= c1, r0 <= r1 else { continue }
            for row in r0...r1 { for column in c0...c1 { dose[row * columns + column] += d } }
        }
        let peak = dose.max() ?? 0
        var rgb = [UInt8](repeating: 0, count: columns * rows * 3)
        for (index, value) in dose.enumerated() {
            let (red, green, blue) =
                value > 0 && peak > 0 ? Self.viridisRGB(log1p(value) / log1p(peak)) : (245, 245, 245)
            rgb[index * 3] = red
            rgb[index * 3 + 1] = green
            rgb[index * 3 + 2] = blue
        }
        let png = PNGFile.encode(width: columns, height: rows, channels: 3, pixels: rgb)
        return "<img class=\"dose\" alt=\"dose map\" src=\"data:image/png;base64,\(Data(png).base64EncodedString())\">"
            + String(
                format:
                    "<p class=\"legend\">Accumulated dose, e/Å², on cells of %.3g nm (log scale; the most: %.3g e/Å²). "
                    + "Regions are taken axis-aligned.</p>", cell, peak)
    }

    // MARK: - The timeline

    func timeline() -> String {
        let start = recordings.decisions.first?.time ?? 0
        var html =
            "<table class=\"timeline\"><tr><th>#</th><th>s</th><th>by</th><th>action</th><th>reason</th>"
            + "<th>candidates</th><th>command</th></tr>"
        for d in recordings.decisions {
            let trouble = d.refused || (d.status.map { $0 != "done" && $0 != "sent" } ?? false) || d.action == "none"
            let fate = d.refused ? "refused" : d.command.map { "\($0) \(d.status ?? "")" } ?? "-"
            html +=
                "<tr class=\"\(trouble ? "trouble" : d.policy == "scopepilot-daemon" ? "daemon" : "policy")\">"
                + "<td>\(d.id)</td><td>\(String(format: "%.1f", d.time - start))</td><td>\(Self.escape(d.policy))</td>"
                + "<td>\(Self.escape(d.action))<br><small>\(Self.escape(d.summary))</small></td>"
                + "<td>\(Self.escape(d.reason))</td><td>\(Self.candidates(d))</td>"
                + "<td>\(Self.escape(fate))\(d.error.map { "<br><small>\(Self.escape($0))</small>" } ?? "")</td></tr>"
        }
        return html + "</table><p class=\"legend\">Highlighted: refused by the envelope, not done by the driver, "
            + "or a policy failure.</p>"
    }

    /// A decision's candidates: how many, and the first few with their scores.
    static func candidates(_ d: SessionRecordings.Decision) -> String {
        guard d.candidates > 0 else { return "-" }
        let top = d.topCandidates.map { "\(escape($0.summary)) <b>\(escape(String($0.score.prefix(8))))</b>" }
        return "\(d.candidates)" + (top.isEmpty ? "" : "<br><small>" + top.joined(separator: "<br>") + "</small>")
    }

    // MARK: - Drift and conditions

    func driftAndCondition() -> String {
        let r = recordings
        let start = r.frames.first?.time ?? 0
        let end = max(r.frames.last?.time ?? 1, start + 1)
        func chart(_ series: [SessionRecordings.Series], label: String, id: String) -> String {
            guard !series.isEmpty else { return "<p>No \(label) measured.</p>" }
            let top = max(series.map(\.value).max() ?? 1, 1e-9) * 1.1
            let (w, h) = (800.0, 160.0)
            func px(_ t: Double) -> Double { 40 + (t - start) / (end - start) * (w - 50) }
            func py(_ v: Double) -> Double { h - 20 - v / top * (h - 30) }
            var svg = "<svg id=\"\(id)\" class=\"chart\" viewBox=\"0 0 \(Self.n(w)) \(Self.n(h))\">"
            svg +=
                "<line x1=\"40\" y1=\"\(Self.n(h - 20))\" x2=\"\(Self.n(w - 10))\" y2=\"\(Self.n(h - 20))\" class=\"axis\"/>"
            for event in r.retrainings {
                svg +=
                    "<line class=\"retraining\" x1=\"\(Self.n(px(event.started)))\" x2=\"\(Self.n(px(event.started)))\" "
                    + "y1=\"5\" y2=\"\(Self.n(h - 20))\"><title>retraining: \(Self.escape(event.reason)) (\(event.status))</title></line>"
            }
            svg +=
                "<polyline fill=\"none\" class=\"series\" points=\""
                + series.map { "\(Self.n(px($0.time))),\(Self.n(py($0.value)))" }.joined(separator: " ") + "\"/>"
            svg += "<text x=\"42\" y=\"14\">\(label) (up to \(String(format: "%.3g", top / 1.1)))</text>"
            svg +=
                "<text x=\"\(Self.n(w - 60))\" y=\"\(Self.n(h - 5))\">\(String(format: "%.0f s", end - start))</text></svg>"
            return svg
        }
        var models: [(String, Double)] = []
        for f in r.frames where f.model != models.last?.0 { if let model = f.model { models.append((model, f.time)) } }
        let modelLine =
            models.isEmpty
            ? "No detector ran."
            : "Model in force: "
                + models.map { "\(Self.escape($0.0)) from \(String(format: "%.0f s", $0.1 - start))" }.joined(
                    separator: ", ")
        return chart(r.drift, label: "drift speed, nm/s", id: "drift-chart")
            + chart(r.condition, label: "condition score (≈1 alike, >2 far)", id: "condition-chart")
            + "<p class=\"legend\">\(modelLine). Orange lines: retrainings.</p>"
    }

    // MARK: - Latency

    func latency() -> String {
        var stages: [String: [Double]] = [:]
        for d in recordings.decisions { for (stage, ms) in d.latency { stages[stage, default: []].append(ms) } }
        guard !stages.isEmpty else { return "<p>No latencies logged.</p>" }
        var html = "<table class=\"latency\"><tr><th>stage</th><th>decisions</th><th>p50 ms</th><th>p99 ms</th></tr>"
        for (stage, values) in stages.sorted(by: { $0.key < $1.key }) {
            let sorted = values.sorted()
            let p50 = sorted[sorted.count / 2]
            let p99 = sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))]
            html +=
                "<tr><td>\(Self.escape(stage))</td><td>\(values.count)</td><td>\(String(format: "%.1f", p50))</td>"
                + "<td>\(String(format: "%.1f", p99))</td></tr>"
        }
        return html + "</table>"
    }

    // MARK: - Thumbnails

    func thumbnails() -> String {
        let r = recordings
        let shown = r.frames.compactMap { f in f.thumbnail.map { (f, $0) } }
        guard !shown.isEmpty else { return "<p>The log kept no thumbnails.</p>" }
        var byFrame: [Int64: [SessionRecordings.Detection]] = [:]
        for d in r.detections { byFrame[d.frame, default: []].append(d) }
        var html = "<div class=\"thumbnails\">"
        for (f, thumbnail) in shown {
            let found = byFrame[f.id] ?? []
            // The thumbnail is the frame block-averaged: detections are drawn in frame pixels.
            var overlay = "<svg viewBox=\"0 0 \(max(f.width, 1)) \(max(f.height, 1))\" preserveAspectRatio=\"none\">"
            for d in found {
                overlay +=
                    "<circle cx=\"\(Self.n(d.column))\" cy=\"\(Self.n(d.row))\" r=\"\(Self.n(Double(max(f.width, 1)) / 60))\"/>"
            }
            overlay += "</svg>"
            html +=
                "<figure><div class=\"thumb\"><img alt=\"frame \(f.seq)\" src=\"data:image/png;base64,"
                + "\(thumbnail.base64EncodedString())\">\(overlay)</div><figcaption>frame \(f.seq) · "
                + "\(Self.n(f.fovX)) nm · \(found.count) defects</figcaption></figure>"
        }
        html += "</div>"
        if shown.count < r.frames.count {
            html += "<p class=\"legend\">\(shown.count) of \(r.frames.count) frames, spread over the session.</p>"
        }
        return html
    }

    // MARK: - Helpers

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }

    /// A number for SVG: short, finite.
    static func n(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        return String(format: "%.4g", value)
    }

    static let viridisStops: [(Double, Double, Double)] = [
        (68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37),
    ]

    static func viridisRGB(_ t: Double) -> (UInt8, UInt8, UInt8) {
        let t = min(max(t.isFinite ? t : 0, 0), 1) * Double(viridisStops.count - 1)
        let i = min(Int(t), viridisStops.count - 2)
        let f = t - Double(i)
        let (a, b) = (viridisStops[i], viridisStops[i + 1])
        return (
            UInt8(a.0 + (b.0 - a.0) * f), UInt8(a.1 + (b.1 - a.1) * f), UInt8(a.2 + (b.2 - a.2) * f)
        )
    }

    static func viridis(_ t: Double) -> String {
        let (r, g, b) = viridisRGB(t)
        return "rgb(\(r),\(g),\(b))"
    }

    static func communityColour(_ id: Int) -> String {
        "hsl(\((id * 137) % 360),70%,50%)"
    }

    static let style = """
        body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
        h2{border-bottom:1px solid #ccc;margin-top:2em}
        table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left;vertical-align:top}
        .summary th{color:#555;font-weight:normal}
        .timeline{font-size:12px}.timeline tr:nth-child(even){background:#f6f6f6}
        .timeline tr.trouble{background:#fde2e1}.timeline tr.daemon{color:#666}
        svg.map{width:100%;height:620px;border:1px solid #ccc;background:#fff;cursor:grab}
        .region{stroke:#333;stroke-width:0.2%;vector-effect:non-scaling-stroke}
        .small-region{fill:none;stroke:#d33;vector-effect:non-scaling-stroke}
        .detection{fill:#e22}#order{stroke:#555;stroke-opacity:.5}text{fill:#333;font-family:sans-serif}
        svg.chart{width:100%;height:160px}.axis{stroke:#999}.series{stroke:#1f6fb4;stroke-width:1.5}
        .retraining{stroke:#f39c12;stroke-dasharray:4 3}
        img.dose{width:100%;max-width:640px;image-rendering:pixelated;border:1px solid #ccc}
        .legend{color:#555;font-size:12px}
        .thumbnails{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0;width:160px;font-size:11px}
        .thumb{position:relative;width:160px;height:160px}.thumb img,.thumb svg{position:absolute;inset:0;width:160px;height:160px}
        .thumb img{image-rendering:pixelated}.thumb circle{fill:none;stroke:#e22;stroke-width:1.5;vector-effect:non-scaling-stroke}
        """

    /// Wheel zoom, drag pan and double-click reset for every `svg.zoomable`, in a few lines of
    /// plain JavaScript (the page loads nothing from the network).
    static let zoomScript = """
        for (const svg of document.querySelectorAll('svg.zoomable')) {
          const initial = svg.getAttribute('viewBox').split(' ').map(Number); let box = initial.slice(); let drag = null;
          const set = () => svg.setAttribute('viewBox', box.join(' '));
          svg.addEventListener('wheel', e => { e.preventDefault(); const r = svg.getBoundingClientRect();
            const fx = (e.clientX - r.left) / r.width, fy = (e.clientY - r.top) / r.height, k = e.deltaY < 0 ? 0.8 : 1.25;
            const w = box[2] * k, h = box[3] * k; box = [box[0] + (box[2] - w) * fx, box[1] + (box[3] - h) * fy, w, h]; set(); });
          svg.addEventListener('mousedown', e => { drag = [e.clientX, e.clientY, box[0], box[1]]; });
          window.addEventListener('mouseup', () => { drag = null; });
          svg.addEventListener('mousemove', e => { if (!drag) return; const r = svg.getBoundingClientRect();
            box[0] = drag[2] - (e.clientX - drag[0]) * box[2] / r.width; box[1] = drag[3] - (e.clientY - drag[1]) * box[3] / r.height; set(); });
          svg.addEventListener('dblclick', () => { box = initial.slice(); set(); });
        }
        // Says the script ran to its end (a browser test reads it from the DOM).
        document.documentElement.dataset.zoomable = document.querySelectorAll('svg.zoomable').length;
        """
}
