// ENTRYPOINT_APP_USER: the user the app runs as, resolved from /etc/passwd and /etc/group read
// directly. A static glibc binary must not call getpwnam/getgrouplist: they go through NSS, which
// dlopen()s libnss_*.so of the exact glibc version the binary was linked with at run time (the
// linker warns about it); in a scratch, distroless or Alpine image they are missing, and a
// different glibc's would be loaded into this process. The files' formats are passwd(5) and group(5).
import Glibc

/// The user and groups the app runs as: `setgroups(groups)`, `setgid(gid)`, `setuid(uid)`.
public struct AppUser: Sendable, Equatable {
    /// ENTRYPOINT_APP_USER as written, for the log lines.
    public let spec: String
    public let uid: UInt32
    public let gid: UInt32
    /// Supplementary groups, the primary group first.
    public let groups: [UInt32]
    /// The passwd entry's home directory (HOME for the app), "/" without an entry.
    public let home: String

    /// `65534:65534 (nobody), groups 65534`, for --check and the log.
    public var summary: String {
        "uid \(uid), gid \(gid), groups \(groups.map(String.init).joined(separator: ","))"
    }

    /// The two parts of the setting: `user[:group]`, each a name or a number.
    public struct Spec: Sendable, Equatable {
        /// As written.
        public let raw: String
        public let user: String
        public let group: String?
    }

    /// Checks the syntax only (exit 78); the names are looked up by `resolve` (exit 71).
    public static func parse(_ value: String) -> Result<Spec, EntrypointError> {
        let parts = value.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        func bad(_ why: String) -> Result<Spec, EntrypointError> {
            .failure(
                EntrypointError(
                    .config, "ENTRYPOINT_APP_USER=\(value) \(why); write a user name or uid, optionally :group or :gid (nobody, 1000, 1000:1000, app:app)"))
        }
        guard parts.count <= 2 else { return bad("has more than one ':'") }
        guard parts.allSatisfy({ !$0.isEmpty }) else { return bad("has an empty part") }
        for part in parts {
            guard part.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "/") }) else {
                return bad("contains whitespace, '/', control or non-ASCII characters")
            }
            if let first = part.utf8.first, first >= 48 && first <= 57, number(part) == nil {
                return bad("has a number that is not a valid id (0 to 4294967294)")
            }
        }
        return .success(Spec(raw: value, user: parts[0], group: parts.count == 2 ? parts[1] : nil))
    }

    /// A decimal id (0 to 4294967294: -1 is "no change" for setuid and chown), or nil.
    static func number(_ text: String) -> UInt32? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), text.count <= 10,
            let n = UInt64(text), n < 0xFFFF_FFFF
        else { return nil }
        return UInt32(n)
    }

    /// One passwd(5) or group(5) line split into its fields (comments and blank lines: nil).
    static func fields(_ line: Substring) -> [Substring]? {
        if line.isEmpty || line.hasPrefix("#") || line.hasPrefix("+") || line.hasPrefix("-") { return nil }
        return line.split(separator: ":", omittingEmptySubsequences: false)
    }

    /// Resolves `spec` against the text of /etc/passwd and /etc/group (nil: the file is missing).
    /// Like su-exec and gosu: a name must exist; a uid need not (then gid = the uid, never 0, and
    /// HOME is /); without an explicit group, the supplementary groups are every group(5) entry
    /// that lists the user's name, as initgroups does; with one, only that group.
    public static func resolve(_ spec: Spec, passwd: String?, group: String?) -> Result<AppUser, EntrypointError> {
        func fail(_ why: String) -> Result<AppUser, EntrypointError> {
            .failure(EntrypointError(.appUser, "cannot switch to ENTRYPOINT_APP_USER=\(spec.raw): \(why)"))
        }
        let users = (passwd ?? "").split(separator: "\n").compactMap(fields).filter { $0.count >= 7 }
        let numericUser = number(spec.user)
        let entry = users.first { numericUser != nil ? number(String($0[2])) == numericUser : $0[0] == spec.user }
        guard let uid = numericUser ?? entry.flatMap({ number(String($0[2])) }) else {
            return fail(
                passwd == nil
                    ? "/etc/passwd does not exist, so the name \(spec.user) cannot be looked up; use a numeric uid[:gid]"
                    : "no user \(spec.user) in /etc/passwd (create it in the image, or use a numeric uid[:gid])")
        }
        let groups = (group ?? "").split(separator: "\n").compactMap(fields).filter { $0.count >= 4 }
        var gid = entry.flatMap { number(String($0[3])) } ?? uid
        var supplementary: [UInt32] = []
        if let name = spec.group {
            if let n = number(name) {
                gid = n
            } else if let g = groups.first(where: { $0[0] == name }), let n = number(String(g[2])) {
                gid = n
            } else {
                return fail(
                    group == nil
                        ? "/etc/group does not exist, so the group name \(name) cannot be looked up; use a numeric gid"
                        : "no group \(name) in /etc/group")
            }
        } else if let entry {
            let name = entry[0]
            supplementary = groups.filter { $0[3].split(separator: ",").contains(name) }.compactMap { number(String($0[2])) }
        }
        var all = [gid]
        for g in supplementary where !all.contains(g) { all.append(g) }
        let home = entry.map { String($0[5]) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/"
        return .success(AppUser(spec: spec.raw, uid: uid, gid: gid, groups: all, home: home))
    }

    /// Resolves ENTRYPOINT_APP_USER against this system's /etc/passwd and /etc/group.
    static func resolve(_ spec: Spec) throws(EntrypointError) -> AppUser {
        func text(_ path: String) -> String? {
            (try? FileIO.readSmallFile(path, limit: 16 << 20)).map { String(decoding: $0, as: UTF8.self) }
        }
        switch resolve(spec, passwd: text("/etc/passwd"), group: text("/etc/group")) {
        case .success(let user): return user
        case .failure(let error): throw error
        }
    }
}
