// $NAME expansion in the wrapped command's arguments (Railway runs exec-form start commands
// without a shell, so `--port $PORT` would otherwise reach the app literally).

public enum Expansion {
    /// Shells that expand their own command string: with `-c`, their arguments are left untouched.
    static let shells: Set<String> = ["sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "busybox"]

    /// Long options that take the next word as their argument: bash's `--rcfile FILE` and
    /// `--init-file FILE` (bash(1), INVOCATION; its other long options take none), and zsh's
    /// `--emulate MODE`.
    static let longOptionsWithArgument: Set<String> = ["--rcfile", "--init-file", "--emulate"]

    /// True when `command` is a POSIX shell given a command string (`sh -c '...'`, `bash -ec '...'`,
    /// `sh -euo pipefail -c '...'`, `busybox sh -c '...'`): the shell does its own expansion from the
    /// same environment.
    ///
    /// The options are read the way the shells read them: a word starting with `-` or `+` is an
    /// option cluster, and every `o` or `O` in it (`-o pipefail`, `-euo pipefail`, `-O extglob`,
    /// `+o errexit`) takes the next word as its argument; `--rcfile`, `--init-file` and `--emulate`
    /// take the next word too. `-c` anywhere in a `-` cluster before the first operand means a
    /// command string. `--` or `-` ends the options.
    public static func isShellCommandString(_ command: [String]) -> Bool {
        guard let first = command.first else { return false }
        var name = basename(first)
        var rest = command.dropFirst()
        if name == "busybox" {
            guard let applet = rest.first, ["sh", "ash", "bash"].contains(basename(applet)) else { return false }
            name = "sh"
            rest = rest.dropFirst()
        }
        guard shells.contains(name) else { return false }
        var args = rest.makeIterator()
        var sawCommandFlag = false
        while let arg = args.next() {
            if arg == "--" || arg == "-" || !(arg.hasPrefix("-") || arg.hasPrefix("+")) { break }
            if arg.hasPrefix("--") {
                // `--rcfile=F` carries its argument; `--rcfile F` takes the next word.
                if longOptionsWithArgument.contains(arg) { _ = args.next() }
                continue  // --login, --norc, --posix, ...
            }
            let letters = arg.utf8.dropFirst()
            if arg.hasPrefix("-") && letters.contains(UInt8(ascii: "c")) { sawCommandFlag = true }
            // Each `o`/`O` in the cluster consumes one following word (its option name).
            for letter in letters where letter == UInt8(ascii: "o") || letter == UInt8(ascii: "O") {
                _ = args.next()
            }
        }
        return sawCommandFlag
    }

    /// Expands `$NAME`, `${NAME}` and `${NAME:-default}` in every argument after the program name;
    /// `$$` is a literal `$`. A `$` not followed by a name, `{` or `$` stays as it is. The default of
    /// `${NAME:-default}` is itself expanded by the same rules (`${PORT:-$DEF}`, `${PORT:-${DEF}}`,
    /// nested to any depth), and only when it is used, as a shell does.
    /// - Throws: `.config` naming the variable when it is unset (never passes `$PORT` on literally).
    public static func expand(_ command: [String], environment: [String: String]) throws(EntrypointError) -> [String] {
        guard command.count > 1 else { return command }
        var out = [command[0]]
        for arg in command.dropFirst() {
            out.append(try expand(argument: arg, environment: environment))
        }
        return out
    }

    static func expand(argument: String, environment: [String: String]) throws(EntrypointError) -> String {
        guard argument.utf8.contains(UInt8(ascii: "$")) else { return argument }
        var parser = Parser(bytes: Array(argument.utf8), argument: argument, environment: environment)
        let out = try parser.word(inBraces: false, evaluate: true)
        return String(decoding: out, as: UTF8.self)
    }

    /// A recursive-descent reader of one argument. `word` reads up to the end of the argument, or, for
    /// a default inside `${NAME:-...}`, up to the `}` that closes it (a `}` of a nested `${...}`
    /// closes only that one). With `evaluate` false it checks the syntax and looks nothing up: the
    /// default of a set variable is never expanded, so an unset variable in it is no error.
    struct Parser {
        let bytes: [UInt8]
        let argument: String
        let environment: [String: String]
        var i = 0

        static func isNameStart(_ b: UInt8) -> Bool { (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 95 }
        static func isName(_ b: UInt8) -> Bool { isNameStart(b) || (b >= 48 && b <= 57) }

        func error(_ detail: String) -> EntrypointError {
            EntrypointError(.config, "the command's argument \"\(argument)\" \(detail)")
        }

        func unset(_ name: String) -> EntrypointError {
            error("uses $\(name), but \(name) is not set; set it, write $$ for a literal $, or turn expansion off with --no-expand or ENTRYPOINT_EXPAND=0")
        }

        mutating func word(inBraces: Bool, evaluate: Bool) throws(EntrypointError) -> [UInt8] {
            var out: [UInt8] = []
            while i < bytes.count {
                let b = bytes[i]
                if inBraces && b == UInt8(ascii: "}") { return out }
                guard b == UInt8(ascii: "$"), i + 1 < bytes.count else {
                    out.append(b)
                    i += 1
                    continue
                }
                let next = bytes[i + 1]
                if next == UInt8(ascii: "$") {
                    out.append(b)
                    i += 2
                } else if next == UInt8(ascii: "{") {
                    out += try braced(evaluate: evaluate)
                } else if Self.isNameStart(next) {
                    var end = i + 1
                    while end < bytes.count && Self.isName(bytes[end]) { end += 1 }
                    let name = String(decoding: bytes[(i + 1)..<end], as: UTF8.self)
                    i = end
                    if evaluate {
                        guard let value = environment[name] else { throw unset(name) }
                        out += value.utf8
                    }
                } else {
                    out.append(b)
                    i += 1
                }
            }
            if inBraces { throw error("has an unterminated ${") }
            return out
        }

        /// `${NAME}` or `${NAME:-default}`, with `i` at its `$`; leaves `i` after its `}`.
        mutating func braced(evaluate: Bool) throws(EntrypointError) -> [UInt8] {
            i += 2
            let nameStart = i
            while i < bytes.count && Self.isName(bytes[i]) { i += 1 }
            guard i < bytes.count else { throw error("has an unterminated ${") }
            let name = String(decoding: bytes[nameStart..<i], as: UTF8.self)
            guard let first = name.utf8.first, Self.isNameStart(first) else {
                throw error("has an invalid ${...} expression")
            }
            let value = evaluate ? environment[name] : nil
            if bytes[i] == UInt8(ascii: "}") {
                i += 1
                guard evaluate else { return [] }
                guard let value else { throw unset(name) }
                return Array(value.utf8)
            }
            guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: ":"), bytes[i + 1] == UInt8(ascii: "-") else {
                throw error("uses an unsupported ${...} form; only ${NAME} and ${NAME:-default} are expanded")
            }
            i += 2
            let useDefault = evaluate && (value ?? "").isEmpty
            let fallback = try word(inBraces: true, evaluate: useDefault)
            i += 1  // the closing }
            guard evaluate else { return [] }
            return useDefault ? fallback : Array(value!.utf8)
        }
    }

    static func basename(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }
}
