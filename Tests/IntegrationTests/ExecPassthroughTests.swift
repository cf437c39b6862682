// The wrapped command: argv, environment, PID, exit status, 126/127, $NAME expansion.
import Foundation
import TestSupport
import Testing

@Suite struct ExecPassthroughTests {
    let python = "import json, os, sys; print(json.dumps({'argv': sys.argv[1:], 'pid': os.getpid(), 'env': dict(os.environ)}))"

    @Test func argumentsEnvironmentPidAndExitStatusPassThrough() throws {
        let args = ["with space", "quote\"d", "it's", "ünïcødé 😀", "", "--flag=x", "-"]
        let runner = try Runner(["python3", "-c", python] + args, env: ["MY_VAR": "kept value", "DROPBOX_DB_PATH": "/x.db"])
        let r = runner.wait()
        #expect(r.status == 0, "\(r.output)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(json["argv"] as? [String] == args)
        #expect(json["pid"] as? Int == Int(runner.pid), "the command keeps the entrypoint's PID")
        let env = try #require(json["env"] as? [String: String])
        #expect(env["MY_VAR"] == "kept value")
        #expect(env["DROPBOX_DB_PATH"] == "/x.db")
        let status = try run(["sh", "-c", "exit 42"], env: [:])
        #expect(status.status == 42)
    }

    @Test func signalDispositionsAndMaskAreReset() throws {
        // The handlers installed for the restore must not survive into the command.
        let r = try run(["sh", "-c", "grep -E '^(SigBlk|SigIgn|SigCgt)' /proc/self/status"], env: [:])
        #expect(r.stdout.contains("SigBlk:\t0000000000000000"), "\(r.stdout)")
        #expect(r.stdout.contains("SigIgn:\t0000000000000000"), "\(r.stdout)")
    }

    @Test func noFileDescriptorsLeak() throws {
        let w = try World()
        try w.publish(["x"])
        // What the command sees after a restore, against what the same command sees when spawned
        // directly by this test process: the entrypoint must add no descriptor of its own.
        let listing = "ls /proc/self/fd"
        let r = try run(["sh", "-c", listing], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("Restored to"))
        let direct = try Spawned("/bin/sh", ["-c", listing], env: [:]).finish(timeout: 10)
        let fds = Set(r.stdout.split(separator: "\n"))
        let baseline = Set(String(decoding: direct.stdout, as: UTF8.self).split(separator: "\n"))
        #expect(fds == baseline, "extra descriptors: \(fds.subtracting(baseline))")
    }

    // A SIGTERM between the last check of the flag and the exec is not lost.
    // ENTRYPOINT_TEST_SIGNAL_AT makes the process send itself SIGTERM at that exact point.
    @Test(arguments: ["exec-start", "exec-blocked"])
    func aStopSignalJustBeforeTheExecIsHonoured(point: String) throws {
        let dir = TempDir()
        let marker = dir.file("started")
        let r = try run(["sh", "-c", "touch '\(marker)'"], env: ["ENTRYPOINT_TEST_SIGNAL_AT": point])
        #expect(r.status == 128 + SIGTERM, "\(point): \(r.output)")
        #expect(r.stderr.contains("stopped by SIGTERM before sh was started"), "\(point): \(r.output)")
        #expect(!FileManager.default.fileExists(atPath: marker), "\(point): the command must not start")
    }

    @Test func aStopSignalAfterTheLastCheckEndsTheProcessByItsDefaultAction() throws {
        let dir = TempDir()
        let marker = dir.file("started")
        let r = try run(["sh", "-c", "touch '\(marker)'"], env: ["ENTRYPOINT_TEST_SIGNAL_AT": "exec-reset"])
        #expect(r.status == 128 + SIGTERM, "killed by SIGTERM, blocked until just before execve: \(r.output)")
        #expect(!FileManager.default.fileExists(atPath: marker), "the command must not start")
    }

    @Test func notFoundIs127AndNotExecutableIs126() throws {
        let dir = TempDir()
        let script = dir.file("noexec.sh")
        try "#!/bin/sh\necho hi\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o644)
        var r = try run(["no-such-command-xyz"], env: [:])
        #expect(r.status == 127)
        #expect(r.stderr.contains("no-such-command-xyz: command not found"))
        r = try run([script], env: [:])
        #expect(r.status == 126)
        #expect(r.stderr.contains("cannot execute \(script)"))
        r = try run([dir.path], env: [:])
        #expect(r.status == 126)
        // Found on PATH but not executable, as execvp reports it.
        r = try run(["noexec.sh"], env: ["PATH": dir.path])
        #expect(r.status == 126, "\(r.output)")
    }

    @Test func portIsExpandedForNonShellCommands() throws {
        let r = try run(
            ["python3", "-c", "import sys; print(sys.argv[1:])", "--port", "$PORT", "${HOST}:${PORT}", "$$PORT", "${MISSING:-d}"],
            env: ["PORT": "8123", "HOST": "0.0.0.0"])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stdout.contains("['--port', '8123', '0.0.0.0:8123', '$PORT', 'd']"))
    }

    // Nested and unexpanded defaults never reach the app as text.
    @Test func nestedDefaultsAreExpandedBeforeTheApp() throws {
        let r = try run(
            ["python3", "-c", "import sys; print(sys.argv[1:])", "${PORT:-${DEF}}", "${MISSING:-$DEF}", "${MISSING:-${HOST:-h}:$DEF}"],
            env: ["PORT": "8123", "DEF": "9"])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stdout.contains("['8123', '9', 'h:9']"), "\(r.output)")
        let unset = try run(["python3", "-c", "print('started')", "${MISSING:-$DEF}"], env: [:])
        #expect(unset.status == 78 && unset.stderr.contains("DEF is not set") && !unset.stdout.contains("started"), "\(unset.output)")
    }

    @Test func unsetVariableStopsBeforeAnyNetworkCall() throws {
        let w = try World()
        try w.publish(["x"])
        let r = try run(["uvicorn", "app:app", "--port", "$PORT"], env: w.env())
        #expect(r.status == 78, "\(r.output)")
        #expect(r.stderr.contains("PORT is not set"))
        #expect(w.fake.requests().isEmpty)
    }

    @Test func expansionCanBeSwitchedOff() throws {
        var r = try run(["--no-expand", "python3", "-c", "import sys; print(sys.argv[1:])", "$PORT"], env: [:])
        #expect(r.stdout.contains("['$PORT']"), "\(r.output)")
        r = try run(["python3", "-c", "import sys; print(sys.argv[1:])", "$PORT"], env: ["ENTRYPOINT_EXPAND": "0"])
        #expect(r.stdout.contains("['$PORT']"), "\(r.output)")
    }

    // A shell's command line is the shell's to expand.
    @Test func shellCommandLinesReachTheShellIntact() throws {
        let dir = TempDir()
        try FileManager.default.createDirectory(atPath: dir.file("init.d"), withIntermediateDirectories: true)
        try "GREETING=from-a\n".write(toFile: dir.file("init.d/a.sh"), atomically: true, encoding: .utf8)
        try "SECOND=from-b\n".write(toFile: dir.file("init.d/b.sh"), atomically: true, encoding: .utf8)
        let script = """
            for f in \(dir.path)/init.d/*.sh; do . "$f"; done
            echo "loop:$GREETING,$SECOND pidsame:$([ $$ -gt 1 ] && echo yes) args:$1|$2|$# all:$@"
            exec python3 -c 'import sys; print("port", sys.argv[2])' --port "$PORT"
            """
        let runner = try Runner(["sh", "-c", script, "sh", "first arg", "$second"], env: ["PORT": "9001"])
        let r = runner.wait()
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stdout.contains("loop:from-a,from-b"), "\(r.stdout)")
        #expect(r.stdout.contains("pidsame:yes"))
        #expect(r.stdout.contains("args:first arg|$second|2"), "positional parameters untouched: \(r.stdout)")
        #expect(r.stdout.contains("port 9001"), "the shell expanded $PORT from the environment")
    }

    // Options with an argument before -c (`-euo pipefail`, `--rcfile F`, ...).
    @Test(arguments: [
        ["bash", "-euo", "pipefail", "-c"], ["bash", "-eo", "pipefail", "-c"], ["bash", "--rcfile", "/dev/null", "-c"],
        ["bash", "--init-file", "/dev/null", "-c"], ["bash", "-O", "extglob", "-c"], ["sh", "-o", "errexit", "-c"],
        ["sh", "-euo", "nounset", "-c"], ["sh", "+o", "errexit", "-c"],
    ])
    func shellOptionsWithArgumentsStillLeaveTheScriptToTheShell(shell: [String]) throws {
        let script = #"for f in a b; do printf '%s,' "$f"; done; PORT=inner; echo "port:$PORT pid:$$""#
        let runner = try Runner(shell + [script], env: ["PORT": "8080"])
        let r = runner.wait()
        #expect(r.status == 0, "\(shell): \(r.output)")
        #expect(r.stdout == "a,b,port:inner pid:\(runner.pid)\n", "\(shell): \(r.output)")
    }

    @Test func shellSeesDollarDollarAsItsPid() throws {
        let runner = try Runner(["sh", "-c", "echo $$"], env: [:])
        let r = runner.wait()
        #expect(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == String(runner.pid))
        // An unset variable in a shell command is the shell's business, not an error.
        let unset = try run(["bash", "-ec", "echo \"[${UNSET_THING:-}]\""], env: [:])
        #expect(unset.status == 0 && unset.stdout.contains("[]"), "\(unset.output)")
    }

    @Test func busyboxShIsAShellToo() throws {
        guard FileManager.default.isExecutableFile(atPath: "/bin/busybox") else { return }
        let r = try run(["busybox", "sh", "-c", "echo $UNSET_VAR_XYZ done"], env: [:])
        #expect(r.status == 0 && r.stdout.contains("done"), "\(r.output)")
    }

    @Test func helpAndVersionGoToStdout() throws {
        let help = try run(["--help"], env: [:])
        #expect(help.status == 0 && help.stdout.contains("usage: entrypoint"))
        let version = try run(["--version"], env: [:])
        #expect(version.status == 0 && version.stdout.hasPrefix("entrypoint "))
        let bad = try run(["--bogus"], env: [:])
        #expect(bad.status == 64 && bad.stderr.contains("unknown option --bogus"))
    }
}
