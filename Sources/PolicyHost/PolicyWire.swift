import Foundation
public import PolicyKit
import WireProtocol

/// The policy protocol's JSON (docs/POLICY_PROTOCOL.md): what the daemon shows an external
/// policy process and how it reads the answer. Pure functions: the host that speaks it over
/// ZeroMQ is ``ExternalPolicyHost``.
public enum PolicyWire {
    /// The protocol version this daemon speaks.
    public static let version = "1.0"

    /// The observation as the protocol's JSON object (section 4). Non-finite numbers become null.
    /// The map's visits go from `visitsFrom` on (the policy process has the earlier ones).
    public static func observation(_ observation: Observation, visitsFrom: Int = 0) -> [String: Any] {
        let visits = observation.map.visits
        let from = min(max(visitsFrom, 0), visits.count)
        var wire: [String: Any] = [
            "step": observation.step,
            "elapsed_s": number(observation.elapsed),
            "frame": observation.frame.map(frame) ?? NSNull(),
            "defects": observation.defects.map {
                ["x_nm": number($0.x), "y_nm": number($0.y), "kind": $0.kind, "confidence": number($0.confidence)]
            },
            "communities": observation.communities.map { community -> [String: Any] in
                [
                    "id": community.id, "chips": community.chips, "area_nm2": number(community.area),
                    "defects": community.defects, "x_nm": optional(community.x), "y_nm": optional(community.y),
                    "channels": community.channels.map(channel), "part": community.part ?? NSNull(),
                ]
            },
            "chips": observation.chips.map { chip -> [String: Any] in
                [
                    "x_nm": number(chip.x), "y_nm": number(chip.y), "size_nm": number(chip.size),
                    "community": chip.community, "defects": chip.defects.map { $0 as Any } ?? NSNull(),
                    "channels": chip.channels.map(channel),
                ]
            },
            "drift": observation.drift.map { drift -> [String: Any] in
                [
                    "dx_nm": number(drift.dx), "dy_nm": number(drift.dy), "vx_nm_per_s": number(drift.vx),
                    "vy_nm_per_s": number(drift.vy), "peak": number(drift.peak),
                ]
            } ?? NSNull(),
            "condition_score": optional(observation.conditionScore),
            "outcomes": observation.outcomes.map(outcome),
            "position": observation.position.map { ["x_nm": number($0.x), "y_nm": number($0.y)] } ?? NSNull(),
            "map": [
                "first_visit": from, "visit_count": visits.count,
                "visits": visits[from...].map { visit -> [String: Any] in
                    [
                        "seq": visit.seq, "scan": scan(visit.scan), "dose_e_per_A2": number(visit.dose),
                        "defects": visit.defects.map { $0 as Any } ?? NSNull(),
                        "area_nm2": number(visit.scan.fovX * visit.scan.fovY),
                    ]
                },
                "electrons": number(observation.map.electrons),
                "area_nm2": number(observation.map.coveredArea),
            ] as [String: Any],
            "envelope": envelope(observation.envelope),
        ]
        wire["retraining"] = observation.retraining.map(retraining) ?? NSNull()
        return wire
    }

    /// The observation's JSON text, as the decision log keeps it (`visitsFrom` as for
    /// ``observation(_:visitsFrom:)``); nil if it cannot be written.
    public static func observationJSON(_ observation: Observation, visitsFrom: Int = 0) -> String? {
        JSONWriter.data(Self.observation(observation, visitsFrom: visitsFrom)).map {
            String(decoding: $0, as: UTF8.self)
        }
    }

    /// The envelope as the protocol writes it.
    public static func envelope(_ envelope: SafetyEnvelope) -> [String: Any] {
        [
            "stage_x_nm": [number(envelope.stageX.lowerBound), number(envelope.stageX.upperBound)],
            "stage_y_nm": [number(envelope.stageY.lowerBound), number(envelope.stageY.upperBound)],
            "max_step_nm": number(envelope.maximumStep),
            "fov_nm": [number(envelope.fov.lowerBound), number(envelope.fov.upperBound)],
            "dwell_us": [number(envelope.dwell.lowerBound), number(envelope.dwell.upperBound)],
            "pixels": [envelope.pixels.lowerBound, envelope.pixels.upperBound],
            "dose_per_area_e_per_A2": number(envelope.dosePerArea),
            "dose_per_session_e": number(envelope.dosePerSession),
            "commands_per_minute": envelope.commandsPerMinute,
            "reference_frames": envelope.referenceFrames,
        ]
    }

    /// An action as the protocol writes it (section 5).
    public static func action(_ action: PolicyAction) -> [String: Any] {
        switch action {
        case .scan(let region): return scan(region).merging(["type": "scan"]) { $1 }
        case .acquireReference(let region, let count):
            return scan(region).merging(["type": "acquire_reference", "count": count]) { $1 }
        case .moveStage(let x, let y): return ["type": "move_stage", "x_nm": number(x), "y_nm": number(y)]
        case .requestRetraining: return ["type": "request_retraining"]
        case .blank: return ["type": "blank"]
        case .unblank: return ["type": "unblank"]
        case .endSession: return ["type": "end_session"]
        }
    }

    // MARK: - Pieces

    static func frame(_ frame: FrameSummary) -> [String: Any] {
        [
            "seq": frame.seq, "scan": scan(frame.scan),
            "stage": ["x_nm": number(frame.stage.x), "y_nm": number(frame.stage.y)],
            "time": number(frame.time), "purpose": frame.purpose.map { $0 as Any } ?? NSNull(),
            "dose_e_per_A2": optional(frame.dose), "channels": frame.channels.map(channel),
            "pixel_size": frame.pixelSize.map { reading -> Any in
                [
                    "claimed_angstrom": number(reading.claimed), "measured_angstrom": number(reading.measured),
                    "consistent": reading.consistent,
                ] as [String: Any]
            } ?? NSNull(),
        ]
    }

    static func scan(_ scan: ScanGeometry) -> [String: Any] {
        [
            "center_x_nm": number(scan.centerX), "center_y_nm": number(scan.centerY),
            "fov_x_nm": number(scan.fovX), "fov_y_nm": number(scan.fovY), "width": scan.width,
            "height": scan.height, "dwell_us": number(scan.dwell), "rotation_deg": number(scan.rotation),
        ]
    }

    static func channel(_ statistics: ChannelStatistics) -> [String: Any] {
        ["name": statistics.name, "mean": number(statistics.mean), "std": number(statistics.std)]
    }

    static func outcome(_ outcome: ActionOutcome) -> [String: Any] {
        switch outcome {
        case .done(let done): return ["status": "done", "action": action(done)]
        case .failed(let failed, let code, let reason):
            return ["status": "failed", "action": action(failed), "code": code, "reason": reason]
        case .refused(let refused, let reason):
            return ["status": "refused", "action": action(refused), "reason": reason]
        }
    }

    static func retraining(_ state: RetrainingState) -> [String: Any] {
        switch state {
        case .running(let since): return ["state": "running", "since_s": number(since)]
        case .finished(let accepted, let before, let after):
            return ["state": "finished", "accepted": accepted, "f1_before": number(before), "f1_after": number(after)]
        case .failed(let message): return ["state": "failed", "message": message]
        }
    }

    static func number(_ value: Double) -> Any { value.isFinite ? value : NSNull() }

    static func optional(_ value: Double?) -> Any { value.map(number) ?? NSNull() }
}
