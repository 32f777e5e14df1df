import Foundation
import PolicyHost
import PolicyKit
import Testing
import WireProtocol

/// The policy protocol's JSON as the daemon writes and reads it.
@Suite("Policy protocol JSON")
struct PolicyWireTests {
    @Test("a decision with every action kind reads back as the action written")
    func actionsRoundTrip() throws {
        let region = ScanGeometry(centerX: 1.5, centerY: -2, fovX: 10, width: 256, height: 128, dwell: 4, rotation: 30)
        let actions: [PolicyAction] = [
            .scan(region), .acquireReference(region, count: 3), .moveStage(x: 5, y: -5), .requestRetraining, .blank,
            .unblank, .endSession,
        ]
        for action in actions {
            let message: [String: Any] = ["action": PolicyWire.action(action), "reason": "because"]
            let json = try JSONSerialization.data(withJSONObject: message)
            #expect(try PolicyWire.decision(from: json).action == action)
        }
    }

    @Test(
        "a decision the daemon cannot use is refused with what is wrong",
        arguments: [
            (#"{"action": {"type": "teleport"}, "reason": "r"}"#, "unknown action type 'teleport'"),
            (
                #"{"action": {"type": "scan", "center_x_nm": 0, "center_y_nm": 0, "width": 64, "dwell_us": 1}, "reason": "r"}"#,
                "needs `fov_x_nm`"
            ),
            (
                #"{"action": {"type": "move_stage", "x_nm": "far", "y_nm": 0}, "reason": "r"}"#,
                "`action.x_nm` must be a number"
            ),
            (#"{"action": {"type": "move_stage", "x_nm": 1, "y_nm": 0}, "reason": "  "}"#, "no `reason`"),
            (#"{"action": {"type": "move_stage", "x_nm": 1, "y_nm": 0}}"#, "no `reason`"),
            (#"{"reason": "r"}"#, "`action` is missing"),
            (#"{"action": {"type": "move_stage", "x_nm": NaN, "y_nm": 0}, "reason": "r"}"#, "not as the protocol says"),
            ("not json", "not as the protocol says"),
        ])
    func refusals(json: String, words: String) {
        do {
            _ = try PolicyWire.decision(from: Data(json.utf8))
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.description.contains(words), "\(error.description)")
        }
    }

    @Test("an observation's JSON has the protocol's fields, numbers as numbers, non-finite ones as null")
    func observationFields() throws {
        let observation = Observation(
            step: 3, elapsed: .nan,
            frame: FrameSummary(
                seq: 9, scan: ScanGeometry(centerX: 0, centerY: 0, fovX: 5, width: 64, height: 64, dwell: 1),
                stage: StagePosition(x: 0, y: 0), time: 1, dose: 4,
                channels: [ChannelStatistics(name: "HAADF", mean: 0.25, std: 0.5)]),
            communities: [
                CommunityObservation(id: 2, chips: 1, area: 1, defects: 0, x: 1, y: 2, part: "vacuum"),
                CommunityObservation(id: 3, chips: 1, area: 1, defects: 0),
            ],
            conditionScore: .infinity, map: SessionMap(), envelope: SafetyEnvelope())
        let data = try JSONSerialization.data(withJSONObject: PolicyWire.observation(observation))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["step"] as? Int == 3)
        #expect(object["elapsed_s"] is NSNull && object["condition_score"] is NSNull)
        let frame = try #require(object["frame"] as? [String: Any])
        #expect(frame["dose_e_per_A2"] as? Double == 4)
        #expect((frame["scan"] as? [String: Any])?["fov_x_nm"] as? Double == 5)
        let channels = try #require(frame["channels"] as? [[String: Any]])
        #expect(channels.first?["name"] as? String == "HAADF" && channels.first?["mean"] as? Double == 0.25)
        let communities = try #require(object["communities"] as? [[String: Any]])
        let community = try #require(communities.first)
        #expect(community["x_nm"] as? Double == 1 && community["y_nm"] as? Double == 2)
        // A community's part of the session, and null where it has none (survey magnification).
        #expect(community["part"] as? String == "vacuum" && communities.last?["part"] is NSNull)
        let envelope = try #require(object["envelope"] as? [String: Any])
        #expect(envelope["commands_per_minute"] as? Int == SafetyEnvelope().commandsPerMinute)
    }
}
