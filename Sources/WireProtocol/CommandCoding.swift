/// The wire form of a command: `id`, `deadline_ms`, `action` and `params`.
extension Command: Codable {
    enum CodingKeys: String, CodingKey { case id, deadline = "deadline_ms", action, params }

    private struct ResendParameters: Codable {
        var from: UInt64
        var to: UInt64
        var session: String?
        enum CodingKeys: String, CodingKey { case from = "from_seq", to = "to_seq", session }

        init(from: UInt64, to: UInt64, session: String?) {
            self.from = from
            self.to = to
            self.session = session
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            from = try c.decodeWhole(UInt64.self, forKey: .from)
            to = try c.decodeWhole(UInt64.self, forKey: .to)
            session = try c.decodeIfPresent(String.self, forKey: .session)
        }
    }

    private struct AbortParameters: Codable {
        var commandID: CommandID?
        enum CodingKeys: String, CodingKey { case commandID = "command_id" }
    }

    private struct NoParameters: Codable {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(CommandID.self, forKey: .id)
        deadline = .milliseconds(try c.decodeWhole(Int.self, forKey: .deadline))
        let name = try c.decode(String.self, forKey: .action)
        switch name {
        case "scan_region": action = .scanRegion(try c.decode(ScanRequest.self, forKey: .params))
        case "move_stage": action = .moveStage(try c.decode(StagePosition.self, forKey: .params))
        case "acquire_reference": action = .acquireReference(try c.decode(ReferenceRequest.self, forKey: .params))
        case "blank_beam": action = .blankBeam
        case "unblank_beam": action = .unblankBeam
        case "get_state": action = .getState
        case "resend_frames":
            let range = try c.decode(ResendParameters.self, forKey: .params)
            action = .resendFrames(from: range.from, to: range.to, session: range.session)
        case "abort":
            action = .abort(try c.decodeIfPresent(AbortParameters.self, forKey: .params)?.commandID)
        default:
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: c.codingPath + [CodingKeys.action],
                    debugDescription:
                        "is '\(name)', which is not an action of protocol \(ProtocolVersion.current.major).x (known: "
                        + CommandAction.allNames.joined(separator: ", ") + ")"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(deadlineMilliseconds, forKey: .deadline)
        try c.encode(action.name, forKey: .action)
        switch action {
        case .scanRegion(let request): try c.encode(request, forKey: .params)
        case .moveStage(let position): try c.encode(position, forKey: .params)
        case .acquireReference(let request): try c.encode(request, forKey: .params)
        case .blankBeam, .unblankBeam, .getState: try c.encode(NoParameters(), forKey: .params)
        case .resendFrames(let from, let to, let session):
            try c.encode(ResendParameters(from: from, to: to, session: session), forKey: .params)
        case .abort(let target): try c.encode(AbortParameters(commandID: target), forKey: .params)
        }
    }

    /// The longest deadline a command may carry: one day.
    public static let maxDeadlineMilliseconds = 86_400_000
    /// The most frames one `resend_frames` may ask for.
    public static let maxResendSpan: UInt64 = 10_000

    func validate() throws(ProtocolError) {
        let check = FieldChecker(what: "command \(id)")
        try check.name(id.rawValue, "id")
        try check.within(deadlineMilliseconds, 1...Self.maxDeadlineMilliseconds, "deadline_ms")
        switch action {
        case .scanRegion(let request): try request.validate(check, at: "params")
        case .moveStage(let position): try position.validate(check, at: "params")
        case .acquireReference(let request): try request.validate(check, at: "params")
        case .blankBeam, .unblankBeam, .getState: break
        case .resendFrames(let from, let to, let session):
            if let session { try check.name(session, "params.session") }
            guard from <= to, to - from < Self.maxResendSpan else {
                throw check.fail(
                    "params",
                    "must ask for 1 to \(Self.maxResendSpan) frames with from_seq <= to_seq, got \(from)...\(to)")
            }
        case .abort(let target):
            if let target { try check.name(target.rawValue, "params.command_id") }
        }
    }
}
