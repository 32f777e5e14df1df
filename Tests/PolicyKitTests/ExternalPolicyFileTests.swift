import BuiltInPolicies
import Foundation
import PolicyKit
import Testing

/// `policy: python` in a policy file: the script beside the file, the class, the interpreter, the
/// parameters as JSON for the class's constructor, and every mistake located.
@Suite("Policy files naming a Python policy")
struct ExternalPolicyFileTests {
    /// A folder with `policy.py` and, when asked, an executable `bin/python`.
    static func folder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-policyfile-\(UUID())")
        try FileManager.default.createDirectory(
            at: folder.appendingPathComponent("bin"), withIntermediateDirectories: true)
        try "class P: pass\n".write(to: folder.appendingPathComponent("policy.py"), atomically: true, encoding: .utf8)
        let python = folder.appendingPathComponent("bin/python")
        try "#!/bin/sh\n".write(to: python, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: python.path)
        return folder
    }

    static func load(_ text: String, in folder: URL) throws(PolicyFileError) -> PolicyFile {
        let url = folder.appendingPathComponent("policy.yaml")
        try? text.write(to: url, atomically: true, encoding: .utf8)
        return try PolicyFile.load(url, factories: BuiltInPolicies.factories)
    }

    @Test("the script is found beside the policy file, the parameters become JSON, the deadline is read")
    func readsPythonPolicy() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = try Self.load(
            """
            policy: python
            script: policy.py
            class: DarkestCommunities
            python: bin/python
            deadline_s: 0.25
            parameters:
              zooms: 20
              center_nm: [-40, 40.5]
              acquisition: ei
              quoted: "20"
              on: true
              nothing: null
              nested: {a: 1}
            envelope:
              dwell_us: [1, 20]
            stop:
              frames: 9
            """, in: folder)
        let spec = try #require(file.policy.external)
        #expect(spec.script == folder.appendingPathComponent("policy.py").standardizedFileURL.path)
        #expect(spec.className == "DarkestCommunities")
        #expect(spec.executable.path == folder.appendingPathComponent("bin/python").standardizedFileURL.path)
        #expect(spec.arguments == ["-m", "scopepilot.host"])
        #expect(spec.deadline == .milliseconds(250))
        let parameters = try #require(try JSONSerialization.jsonObject(with: spec.parametersJSON) as? [String: Any])
        #expect(parameters["zooms"] as? Int == 20)
        #expect(parameters["center_nm"] as? [Double] == [-40, 40.5])
        #expect(parameters["acquisition"] as? String == "ei")
        #expect(parameters["quoted"] as? String == "20", "a quoted number stays text")
        #expect(parameters["on"] as? Bool == true)
        #expect(parameters["nothing"] is NSNull)
        #expect((parameters["nested"] as? [String: Any])?["a"] as? Int == 1)
        #expect(file.envelope.dwell == 1...20)
        #expect(file.stop.frames == 9)
        #expect(file.policy.name == "DarkestCommunities")
        #expect(file.policy.builtIn == nil)
    }

    @Test(
        "mistakes in a Python policy file are located and say what would be right",
        arguments: [
            ("policy: python\nclass: P\n", "", "needs 'script: FILE.py'"),
            ("policy: python\nscript: missing.py\nclass: P\n", "script", "no file"),
            ("policy: python\nscript: policy.py\n", "", "needs 'class: NAME'"),
            ("policy: python\nscript: policy.py\nclass: 3rd\n", "class", "not a Python class name"),
            ("policy: python\nscript: policy.py\nclass: a.b\n", "class", "not a Python class name"),
            ("policy: python\nscript: policy.py\nclass: P\npython: bin/nothing\n", "python", "no program"),
            (
                "policy: python\nscript: policy.py\nclass: P\npython: bin/python\ndeadline_s: 0\n", "deadline_s",
                "between"
            ),
            (
                "policy: python\nscript: policy.py\nclass: P\npython: bin/python\nparameters: [1]\n", "parameters",
                "mapping"
            ),
            (
                "policy: python\nscript: policy.py\nclass: P\npython: bin/python\nparameters: {x: .nan}\n",
                "parameters.x", "finite",
            ),
            ("policy: raster-survey\nscript: policy.py\n", "script", "belongs to 'policy: python' only"),
            ("policy: pyhton\n", "policy", "python"),
        ])
    func pointsAtMistakes(text: String, key: String, words: String) throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        do {
            _ = try Self.load(text, in: folder)
            Issue.record("accepted a broken file: \(text)")
        } catch {
            #expect(error.key == key, "\(error)")
            #expect(error.message.contains(words), "\(error.message)")
        }
    }
}
