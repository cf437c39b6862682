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
    /// `$$` is a literal `$`. A `$` not followed by a name, `{` or `$` stays as it is.
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
        let bytes = Array(argument.utf8)
        guard bytes.contains(UInt8(ascii: "$")) else { return argument }
        var out: [UInt8] = []
        var i = 0
        func isNameStart(_ b: UInt8) -> Bool { (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 95 }
        func isName(_ b: UInt8) -> Bool { isNameStart(b) || (b >= 48 && b <= 57) }
        func lookup(_ name: String, default fallback: String?) throws(EntrypointError) -> String {
            if let value = environment[name] {
                if value.isEmpty, let fallback { return fallback }
                return value
            }
            if let fallback { return fallback }
            throw EntrypointError(
                .config,
                "the command's argument \"\(argument)\" uses $\(name), but \(name) is not set; set it, write $$ for a literal $, or turn expansion off with --no-expand or ENTRYPOINT_EXPAND=0"
            )
        }
        while i < bytes.count {
            let b = bytes[i]
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
                guard let close = bytes[(i + 2)...].firstIndex(of: UInt8(ascii: "}")) else {
                    throw EntrypointError(.config, "the command's argument \"\(argument)\" has an unterminated ${")
                }
                let inner = bytes[(i + 2)..<close]
                var nameEnd = inner.startIndex
                while nameEnd < inner.endIndex && isName(inner[nameEnd]) { nameEnd += 1 }
                let name = String(decoding: inner[inner.startIndex..<nameEnd], as: UTF8.self)
                guard let first = name.utf8.first, isNameStart(first) else {
                    throw EntrypointError(.config, "the command's argument \"\(argument)\" has an invalid ${...} expression")
                }
                var fallback: String?
                if nameEnd < inner.endIndex {
                    let rest = inner[nameEnd...]
                    guard rest.count >= 2, rest[rest.startIndex] == UInt8(ascii: ":"),
                        rest[rest.startIndex + 1] == UInt8(ascii: "-")
                    else {
                        throw EntrypointError(.config, "the command's argument \"\(argument)\" uses an unsupported ${...} form; only ${NAME} and ${NAME:-default} are expanded")
                    }
                    fallback = String(decoding: rest.dropFirst(2), as: UTF8.self)
                }
                out.append(contentsOf: try lookup(name, default: fallback).utf8)
                i = close + 1
            } else if isNameStart(next) {
                var end = i + 1
                while end < bytes.count && isName(bytes[end]) { end += 1 }
                let name = String(decoding: bytes[(i + 1)..<end], as: UTF8.self)
                out.append(contentsOf: try lookup(name, default: nil).utf8)
                i = end
            } else {
                out.append(b)
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func basename(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }
}
