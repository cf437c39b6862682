// $NAME expansion of the wrapped command: Railway's start command, defaults (nested, only when used),
// unset names as errors naming them, malformed braces, the program name and shells' own lines left alone.
import Testing

@testable import EntrypointCore

@Suite struct ExpansionTests {
    let env = ["PORT": "8080", "HOST": "0.0.0.0", "EMPTY": ""]

    @Test func railwayStartCommandIsExpanded() throws {
        let command = ["uvicorn", "src.web.asgi:app", "--host", "0.0.0.0", "--port", "$PORT"]
        #expect(try Expansion.expand(command, environment: env) == ["uvicorn", "src.web.asgi:app", "--host", "0.0.0.0", "--port", "8080"])
    }

    @Test(arguments: [
        ("${PORT}", "8080"), ("--bind=$HOST:$PORT", "--bind=0.0.0.0:8080"), ("$$PORT", "$PORT"),
        ("cost: 5$", "cost: 5$"), ("$1", "$1"), ("a$-b", "a$-b"), ("${EMPTY}", ""), ("x${EMPTY:-d}y", "xdy"),
        ("${UNSET:-8000}", "8000"), ("${PORT:-1}", "8080"), ("$PORT_X", "$PORT_X"), ("$$", "$"), ("ü$HOST", "ü0.0.0.0"),
    ])
    func argumentForms(input: String, expected: String) throws {
        let env = self.env.merging(["PORT_X": "$PORT_X"]) { a, _ in a }
        #expect(try Expansion.expand(["prog", input], environment: env) == ["prog", expected])
    }

    // A default is expanded by the same rules, nested to any depth, only when used.
    @Test(arguments: [
        ("${PORT:-${DEF}}", "8080"), ("${UNSET:-${DEF}}", "9"), ("${PORT:-$DEF}", "8080"), ("${UNSET:-$DEF}", "9"),
        ("${UNSET:-${ALSO:-${DEF}}}", "9"), ("${UNSET:-${ALSO:-x}}y", "xy"), ("${UNSET:-$HOST:$PORT}", "0.0.0.0:8080"),
        ("${UNSET:-${HOST}:${PORT:-1}}/p", "0.0.0.0:8080/p"), ("${UNSET:-a$$b}", "a$b"), ("${UNSET:-}", ""),
        ("${UNSET:-$}", "$"), ("${UNSET:-x}}", "x}"), ("${EMPTY:-${DEF}}", "9"),
        // The default of a set variable is never expanded, so an unset name in it is no error.
        ("${PORT:-$NOPE}", "8080"), ("${PORT:-${NOPE}}", "8080"), ("${PORT:-${NOPE:-${NADA}}}", "8080"),
    ])
    func nestedDefaultsAreExpanded(input: String, expected: String) throws {
        let env = self.env.merging(["DEF": "9"]) { a, _ in a }
        #expect(try Expansion.expand(["prog", input], environment: env) == ["prog", expected])
    }

    @Test func anUnsetNameInAUsedDefaultIsAnErrorNamingIt() {
        for (input, name) in [("${UNSET:-$NOPE}", "NOPE"), ("${UNSET:-${NOPE}}", "NOPE"), ("${UNSET:-${EMPTY:-$NADA}}", "NADA")] {
            #expect("\(input)") {
                try Expansion.expand(["p", input], environment: env)
            } throws: { error in
                let e = error as! EntrypointError
                return e.code == .config && e.message.contains("\(name) is not set")
            }
        }
    }

    @Test func unsetVariableIsAnErrorNamingIt() {
        #expect {
            try Expansion.expand(["uvicorn", "--port", "$PORT"], environment: [:])
        } throws: { error in
            let e = error as! EntrypointError
            return e.code == .config && e.message.contains("PORT is not set") && e.message.contains("--no-expand")
        }
    }

    @Test func malformedBracesAreErrors() {
        for bad in ["${PORT", "${}", "${1A}", "${PORT:=1}", "${PORT#x}", "${PORT:-${DEF}", "${UNSET:-${DEF", "${PORT:-${1}}", "${PORT:-${X#y}}"] {
            #expect(throws: EntrypointError.self, "\(bad)") { try Expansion.expand(["p", bad], environment: env) }
        }
    }

    @Test func programNameIsNeverExpanded() throws {
        #expect(try Expansion.expand(["$PROG", "$PORT"], environment: env) == ["$PROG", "8080"])
    }

    @Test(arguments: [
        ["sh", "-c", "echo $f"], ["/bin/sh", "-c", "x"], ["bash", "-ec", "x"], ["bash", "-o", "pipefail", "-c", "x"],
        ["dash", "-c", "x"], ["ash", "-c", "x"], ["zsh", "-c", "x"], ["ksh", "-xc", "x"], ["busybox", "sh", "-c", "x"],
        ["/usr/bin/bash", "--norc", "-c", "x"], ["bash", "-l", "-c", "x"],
        // An option cluster ending in o/O, and the long options that take a word.
        ["sh", "-euo", "pipefail", "-c", "x"], ["bash", "-eo", "pipefail", "-c", "x"],
        ["bash", "--rcfile", "F", "-c", "x"], ["bash", "--init-file", "F", "-c", "x"],
        ["bash", "-O", "extglob", "-c", "x"], ["bash", "+O", "extglob", "-c", "x"],
        ["sh", "-o", "errexit", "-c", "x"], ["sh", "+o", "errexit", "-c", "x"], ["sh", "+eo", "errexit", "-c", "x"],
        ["bash", "-oO", "pipefail", "extglob", "-c", "x"], ["bash", "-co", "pipefail", "x"],
        ["bash", "--noprofile", "--rcfile", "/etc/rc", "-euxo", "pipefail", "-c", "x"], ["zsh", "--emulate", "sh", "-c", "x"],
        ["busybox", "sh", "-euo", "pipefail", "-c", "x"],
    ])
    func shellCommandStringsAreLeftToTheShell(command: [String]) {
        #expect(Expansion.isShellCommandString(command))
    }

    @Test(arguments: [
        ["sh", "script.sh", "-c"], ["sh"], ["uvicorn", "-c", "x"], ["python3", "-c", "print(1)"], ["bash", "script", "-c"],
        ["busybox", "httpd", "-c", "x"], ["shx", "-c", "x"], ["sh", "--", "-c"],
        // The word after -o / -O / --rcfile is an argument, not an operand nor an option.
        ["bash", "--rcfile", "-c", "script"], ["bash", "--init-file", "-c", "script"], ["sh", "-o", "-c", "script"],
        ["bash", "-O", "extglob", "script", "-c"], ["sh", "-euo", "pipefail", "script.sh", "-c"], ["sh", "+o", "errexit", "script.sh"],
    ])
    func otherCommandsAreNotShellCommandStrings(command: [String]) {
        #expect(!Expansion.isShellCommandString(command))
    }
}
