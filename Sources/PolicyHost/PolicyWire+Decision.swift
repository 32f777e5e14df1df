public import Foundation
public import PolicyKit
import WireProtocol

/// A policy's answer the daemon cannot use, with what is wrong in words the policy's author
/// understands.
public struct PolicyWireError: Error, Sendable, CustomStringConvertible {
    /// What is wrong.
    public let description: String

    init(_ description: String) { self.description = description }
}

extension PolicyWire {
    /// An action object as it arrives (section 5): every field optional until checked.
    struct WireAction: Decodable {
        var type: String
        var centerX: Double?
        var centerY: Double?
        var fovX: Double?
        var fovY: Double?
        var fov: Double?
        var width: Int?
        var height: Int?
        var pixels: Int?
        var dwell: Double?
        var rotation: Double?
        var count: Int?
        var x: Double?
        var y: Double?

        enum CodingKeys: String, CodingKey {
            case type, width, height, pixels, count
            case centerX = "center_x_nm", centerY = "center_y_nm", fovX = "fov_x_nm", fovY = "fov_y_nm"
            case fov = "fov_nm", dwell = "dwell_us", rotation = "rotation_deg", x = "x_nm", y = "y_nm"
        }
    }

    struct WireCandidate: Decodable {
        var action: WireAction
        var score: Double
        var note: String?
    }

    struct WireDecision: Decodable {
        var action: WireAction
        var reason: String?
        var candidates: [WireCandidate]?
    }

    /// The decision in a `decision` message (its JSON part), checked field by field: an unknown
    /// action, a missing or mistyped field, or an empty reason is refused with what is wrong.
    public static func decision(from json: Data) throws(PolicyWireError) -> PolicyDecision {
        let wire: WireDecision
        do {
            wire = try JSONDecoder().decode(WireDecision.self, from: json)
        } catch let error as DecodingError {
            throw PolicyWireError("the decision is not as the protocol says: \(describe(error))")
        } catch {
            throw PolicyWireError("the decision is not JSON: \(error)")
        }
        let action = try self.action(wire.action)
        guard let reason = wire.reason, !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw PolicyWireError("the decision has no `reason`: the log says why every action was taken")
        }
        var candidates: [PolicyDecision.Candidate] = []
        for candidate in (wire.candidates ?? []).prefix(1000) {
            candidates.append(
                PolicyDecision.Candidate(
                    try self.action(candidate.action), score: candidate.score,
                    note: candidate.note.map { String($0.prefix(2000)) }))
        }
        return PolicyDecision(action, reason: String(reason.prefix(2000)), candidates: candidates)
    }

    static func action(_ wire: WireAction) throws(PolicyWireError) -> PolicyAction {
        func need<T>(_ value: T?, _ name: String) throws(PolicyWireError) -> T {
            guard let value else { throw PolicyWireError("a `\(wire.type.prefix(40))` action needs `\(name)`") }
            return value
        }
        func region() throws(PolicyWireError) -> ScanGeometry {
            let fovX = try need(wire.fovX ?? wire.fov, "fov_x_nm")
            let width = try need(wire.width ?? wire.pixels, "width")
            let height = wire.height ?? width
            return ScanGeometry(
                centerX: try need(wire.centerX, "center_x_nm"), centerY: try need(wire.centerY, "center_y_nm"),
                fovX: fovX, fovY: wire.fovY ?? fovX * Double(height) / Double(max(width, 1)), width: width,
                height: height, dwell: try need(wire.dwell, "dwell_us"), rotation: wire.rotation ?? 0)
        }
        switch wire.type {
        case "scan": return .scan(try region())
        case "acquire_reference": return .acquireReference(try region(), count: try need(wire.count, "count"))
        case "move_stage": return .moveStage(x: try need(wire.x, "x_nm"), y: try need(wire.y, "y_nm"))
        case "request_retraining": return .requestRetraining
        case "blank": return .blank
        case "unblank": return .unblank
        case "end_session": return .endSession
        default:
            throw PolicyWireError(
                "unknown action type '\(wire.type.prefix(100))': scan, move_stage, acquire_reference, "
                    + "request_retraining, blank, unblank, end_session")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "`\(([path(context)] + [key.stringValue]).filter { !$0.isEmpty }.joined(separator: "."))` is missing"
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            return
                "`\(path(context))` must be \(type == String.self ? "a string" : type == Int.self ? "a whole number" : "a number")"
        case .dataCorrupted(let context): return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}
