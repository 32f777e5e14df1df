public import Foundation

/// A policy that runs in a process of its own and speaks the policy protocol
/// (docs/POLICY_PROTOCOL.md): how to start it and what the policy file says about it.
///
/// A policy file names one with `policy: python`:
///
/// ```yaml
/// policy: python
/// script: darkest_communities.py   # relative to the policy file
/// class: DarkestCommunities
/// parameters: {zooms: 20}          # the class's keyword arguments
/// deadline_s: 3                    # per decision (default 3)
/// ```
public struct ExternalPolicySpec: Sendable, Hashable {
    /// The interpreter (for Python: the file's `python:`, else `$SCOPEPILOT_PYTHON`, else `python3`).
    public var executable: URL
    /// Its arguments (for the Python package: `-m scopepilot.host`).
    public var arguments: [String]
    /// The script, an absolute path.
    public var script: String
    /// The class in it.
    public var className: String
    /// The policy file's `parameters:`, as a JSON object.
    public var parametersJSON: Data
    /// How long the process may take to start and say `ready`.
    public var startTimeout: Duration
    /// How long each decision may take.
    public var deadline: Duration

    /// A spec for a Python policy class in `script`, run by `python` with the `scopepilot` package.
    public init(
        python: URL, script: String, className: String, parametersJSON: Data = Data("{}".utf8),
        startTimeout: Duration = .seconds(30), deadline: Duration = .seconds(3)
    ) {
        executable = python
        arguments = ["-m", "scopepilot.host"]
        self.script = script
        self.className = className
        self.parametersJSON = parametersJSON
        self.startTimeout = startTimeout
        self.deadline = deadline
    }

    /// The parameters as text per top-level key (each value as JSON), for logs and summaries.
    public var parameterTexts: [String: String] {
        guard let object = try? JSONSerialization.jsonObject(with: parametersJSON) as? [String: Any] else { return [:] }
        var texts: [String: String] = [:]
        for (key, value) in object {
            if let text = value as? String {
                texts[key] = text
            } else if let data = try? JSONSerialization.data(
                withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed])
            {
                texts[key] = String(decoding: data, as: UTF8.self)
            }
        }
        return texts
    }

    /// The interpreter a policy file means by `named` (a path, relative to `directory`, or a name
    /// looked up on PATH); nil when there is no such program.
    public static func interpreter(
        _ named: String, relativeTo directory: URL, path: String? = ProcessInfo.processInfo.environment["PATH"]
    ) -> URL? {
        let files = FileManager.default
        if named.contains("/") {
            let url = named.hasPrefix("/") ? URL(fileURLWithPath: named) : directory.appendingPathComponent(named)
            return files.isExecutableFile(atPath: url.path) ? url.standardizedFileURL : nil
        }
        for folder in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(folder)).appendingPathComponent(named)
            if files.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }
}
