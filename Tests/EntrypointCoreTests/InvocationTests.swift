import TestSupport
// The command line: where entrypoint's options end and the command starts, the modes, usage errors,
// and the arguments of --merge.
import Testing

@testable import EntrypointCore

@Suite struct InvocationTests {
    @Test func firstNonOptionStartsTheCommand() throws {
        let inv = try Invocation(arguments: ["uvicorn", "--port", "$PORT", "--check"])
        #expect(inv.mode == .run(command: ["uvicorn", "--port", "$PORT", "--check"]))
    }

    @Test func doubleDashEndsOptions() throws {
        #expect(try Invocation(arguments: ["--", "--weird", "-x"]).mode == .run(command: ["--weird", "-x"]))
        #expect(try Invocation(arguments: ["--no-expand", "--", "a"]) == Invocation(arguments: ["--no-expand", "a"]))
    }

    @Test func programsNamedLikeModesCanBeWrapped() throws {
        #expect(try Invocation(arguments: ["backup"]).mode == .run(command: ["backup"]))
        #expect(try Invocation(arguments: ["check", "--backup"]).mode == .run(command: ["check", "--backup"]))
        #expect(try Invocation(arguments: ["hash", "x"]).mode == .run(command: ["hash", "x"]))
    }

    @Test func modes() throws {
        #expect(try Invocation(arguments: []).mode == .run(command: []))
        #expect(try Invocation(arguments: ["--check"]).mode == .check)
        #expect(try Invocation(arguments: ["--backup", "--force"]).mode == .backup(force: true, automatic: false))
        #expect(try Invocation(arguments: ["--backup", "--auto"]).mode == .backup(force: false, automatic: true, merge: true))
        #expect(try Invocation(arguments: ["--hash", "a", "b"]).mode == .hash(files: ["a", "b"]))
        #expect(try Invocation(arguments: ["-h"]).mode == .help)
        #expect(try Invocation(arguments: ["--version", "x"]).mode == .version)
        #expect(try Invocation(arguments: ["--no-expand", "app"]).noExpand)
    }

    @Test(arguments: [
        ["--bogus"], ["--check", "app"], ["--check", "--backup"], ["--force"], ["--hash"], ["-x", "app"], ["--auto"], ["--check", "--auto"],
        ["--backup", "--auto", "--force"],
    ])
    func usageErrors(arguments: [String]) {
        #expect {
            try Invocation(arguments: arguments)
        } throws: { ($0 as? EntrypointError)?.code == .usage }
    }
}

@Suite struct MergeInvocationTests {
    @Test func mergeTakesThreeFiles() throws {
        #expect(try Invocation(arguments: ["--merge", "b", "t", "i"]).mode == .merge(base: "b", theirs: "t", into: "i"))
        #expect(throws: EntrypointError.self) { try Invocation(arguments: ["--merge", "b", "t"]) }
        #expect(throws: EntrypointError.self) { try Invocation(arguments: ["--merge", "b", "t", "i", "cmd"]) }
        #expect(throws: EntrypointError.self) { try Invocation(arguments: ["--merge", "b", "t", "i", "--check"]) }
    }

    @Test func backupMergeIsAFlag() throws {
        #expect(try Invocation(arguments: ["--backup", "--merge"]).mode == .backup(force: false, automatic: false, merge: true))
        #expect(try Invocation(arguments: ["--backup"]).mode == .backup(force: false, automatic: false, merge: false))
        #expect(throws: EntrypointError.self) { try Invocation(arguments: ["--backup", "--merge", "--force"]) }
        #expect(Invocation.usage.contains("80 merged with conflicts set aside") && Invocation.usage.contains("81 merge refused"))
    }
}
