import CoreMetrics
import Metrics

/// The daemon's swift-metrics instruments (no-ops until the process bootstraps a backend).
struct DaemonMetrics: Sendable {
    let frames = Counter(label: "scopepilot_frames_received")
    let rejected = Counter(label: "scopepilot_inputs_rejected")
    let skipped = Counter(label: "scopepilot_frames_skipped")
    let decisions = Counter(label: "scopepilot_decisions")
    let commands = Counter(label: "scopepilot_commands_sent")
    let commandFailures = Counter(label: "scopepilot_commands_failed")
    let refusals = Counter(label: "scopepilot_actions_refused")
    let latency = Timer(label: "scopepilot_frame_to_command")
}
