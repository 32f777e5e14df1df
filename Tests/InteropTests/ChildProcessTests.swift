import ChildProcess
import Foundation
import ScopePilotTestSupport
import Testing

/// Programs the project and its tests start can be stopped, and never outlive their starter.
@Suite("Child processes", .serialized)
struct ChildProcessTests {
    /// A field of /proc/PID/status, e.g. `SigBlk`, as a number.
    static func statusMask(_ status: String, _ field: String) -> UInt64? {
        for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
            return UInt64(line.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces), radix: 16)
        }
        return nil
    }

    @Test("a started program blocks no signal and ignores neither SIGTERM nor SIGINT")
    func cleanSignalMask() async throws {
        let result = try await TestProcess.run(URL(fileURLWithPath: "/bin/cat"), ["/proc/self/status"])
        #expect(result.status == 0)
        #expect(Self.statusMask(result.stdout, "SigBlk") == 0, "\(result.stdout)")
        let ignored = try #require(Self.statusMask(result.stdout, "SigIgn"))
        #expect(ignored & (1 << (UInt64(SIGTERM) - 1)) == 0)
        #expect(ignored & (1 << (UInt64(SIGINT) - 1)) == 0)
    }

    @Test("waiting for a program that keeps running gives up at the timeout; ending it is then prompt")
    func waitGivesUp() async throws {
        // Five seconds: a wait that does not give up returns its exit instead of nil.
        let child = try await ChildProcess(URL(fileURLWithPath: "/bin/sleep"), ["5"])
        #expect(await child.waitForExit(timeout: .milliseconds(300)) == nil)
        #expect(child.isRunning)
        #expect(await child.terminate() == .signalled(SIGTERM))
    }

    @Test("lines come as the program writes them, each read waiting at most its timeout")
    func lines() async throws {
        let child = try await ChildProcess(
            URL(fileURLWithPath: "/bin/sh"), ["-c", "echo one; sleep 1; echo two; sleep 2; echo three"])
        #expect(await child.nextLine(timeout: .seconds(10)) == "one")
        #expect(await child.nextLine(timeout: .seconds(10)) == "two")
        #expect(await child.nextLine(timeout: .milliseconds(300)) == nil, "three comes after 2 s")
        #expect(await child.nextLine(timeout: .seconds(10)) == "three")
        #expect(await child.nextLine(timeout: .seconds(10)) == nil, "the output ended")
        #expect(await child.waitForExit(timeout: .seconds(5)) == .exited(0))
    }

    @Test("SIGTERM stops the reference adapter: it blanks the beam and exits 0")
    func adapterStopsOnSIGTERM() async throws {
        let peer = try await PythonPeer(
            script: "Drivers/python/scopepilot_adapter.py",
            arguments: ["--feed", "tcp://127.0.0.1:*", "--control", "tcp://127.0.0.1:*"])
        _ = try await peer.nextJSON()
        let exit = await peer.terminate()
        #expect(exit == .exited(0), "\(peer.stderr)")
        #expect(peer.stderr.contains("blanking the beam"))
    }

    @Test("the reference adapter stops when the program that started it has gone")
    func adapterOutlivesNoParent() async throws {
        let python = try TestPython.interpreter.path
        let adapter = TestPython.repository.appendingPathComponent("Drivers/python/scopepilot_adapter.py").path
        // A shell starts the adapter with its own pid as the parent to watch, says the adapter's
        // pid, and exits.
        let shell = try await ChildProcess(
            URL(fileURLWithPath: "/bin/sh"),
            [
                "-c",
                "'\(python)' -u '\(adapter)' --feed tcp://127.0.0.1:* --control tcp://127.0.0.1:* --parent-pid $$ "
                    + ">/dev/null 2>&1 & echo $!; sleep 0.5",
            ])
        let line = try #require(await shell.nextLine(timeout: .seconds(10)))
        let pid = try #require(Int32(line.trimmingCharacters(in: .whitespaces)))
        _ = await shell.waitForExit(timeout: .seconds(10))
        let deadline = ContinuousClock.now + .seconds(10)
        func alive() -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
            // The state follows the command name in parentheses: Z (zombie) or X (dead) is gone.
            let state = stat.split(separator: ")").last?.split(separator: " ").first ?? "?"
            return state != "Z" && state != "X"
        }
        while alive() && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        let survived = alive()
        if survived { kill(pid, SIGKILL) }
        #expect(!survived, "the adapter (pid \(pid)) outlived the shell that started it")
    }
}
