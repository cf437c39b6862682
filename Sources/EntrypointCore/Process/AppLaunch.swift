// What the app's process gets, exec'd or supervised: the environment without the Dropbox secrets
// (unless ENTRYPOINT_PASS_SECRETS=1) and, with ENTRYPOINT_APP_USER, that user's identity. Applied in
// the process that is about to execve the app (the entrypoint itself on the exec path, the forked
// child under the supervisor), so the supervisor and its backup workers keep root and the secrets.
import Glibc

public struct AppLaunch: Sendable {
    /// Removed from the app's environment: everything that can reach the Dropbox account or the
    /// heartbeat. DROPBOX_APP_KEY stays: it identifies the app and grants nothing by itself.
    public static let secretNames = [
        "DROPBOX_APP_SECRET", "DROPBOX_REFRESH_TOKEN", "DROPBOX_ACCESS_TOKEN",
        "DROPBOX_APP_SECRET_FILE", "DROPBOX_REFRESH_TOKEN_FILE", "DROPBOX_ACCESS_TOKEN_FILE",
        "ENTRYPOINT_HEARTBEAT_URL",
    ]

    /// Keep the secrets in the app's environment (ENTRYPOINT_PASS_SECRETS=1).
    public let passSecrets: Bool
    /// Switch to this user before the exec (nil: stay as we are).
    public let user: AppUser?

    public init(passSecrets: Bool, user: AppUser?) {
        self.passSecrets = passSecrets
        self.user = user
    }

    /// From the configuration: ENTRYPOINT_APP_USER looked up (exit 71 when unknown, or when
    /// entrypoint is not root and the user is another one), before the restore, so a typo costs no
    /// download.
    static func resolve(_ config: Configuration, log: Logger) throws(EntrypointError) -> AppLaunch {
        guard let spec = config.appUser else { return AppLaunch(passSecrets: config.passSecrets, user: nil) }
        let user = try AppUser.resolve(spec)
        if geteuid() != 0 {
            guard user.uid == geteuid() && user.gid == getegid() else {
                throw EntrypointError(
                    .appUser,
                    "cannot switch to ENTRYPOINT_APP_USER=\(spec.raw) (\(user.summary)): entrypoint runs as uid \(geteuid()), not root; run the container as root (entrypoint drops to the user itself) or unset ENTRYPOINT_APP_USER"
                )
            }
            log.debug("ENTRYPOINT_APP_USER=\(spec.raw) is the user entrypoint already runs as; nothing to switch")
            return AppLaunch(passSecrets: config.passSecrets, user: nil)
        }
        return AppLaunch(passSecrets: config.passSecrets, user: user)
    }

    /// The environment the app sees (for the log and the tests: the exec itself uses `environ`).
    public func environment(_ env: [String: String]) -> [String: String] {
        var out = passSecrets ? env : env.filter { !Self.secretNames.contains($0.key) }
        if let user { out["HOME"] = user.home }
        return out
    }

    /// Prepares this process for the app's execve: removes the secrets from `environ`, sets HOME,
    /// then drops the privileges in the only safe order (supplementary groups, gid, uid: after
    /// setuid the others can no longer be changed) and checks each step and the result.
    public func apply() -> EntrypointError? {
        if !passSecrets {
            for name in Self.secretNames where unsetenv(name) != 0 {
                return EntrypointError(.software, "cannot remove \(name) from the app's environment: \(errnoText(errno))")
            }
        }
        guard let user else { return nil }
        func fail(_ call: String, _ err: Int32) -> EntrypointError {
            EntrypointError(
                .appUser, "cannot switch to ENTRYPOINT_APP_USER=\(user.spec) (\(user.summary)): \(call) failed: \(errnoText(err))",
                cause: .system(call: call, errno: err))
        }
        if setenv("HOME", user.home, 1) != 0 { return fail("setenv HOME", errno) }
        let groups = user.groups.map { gid_t($0) }
        if groups.withUnsafeBufferPointer({ setgroups($0.count, $0.baseAddress) }) != 0 { return fail("setgroups", errno) }
        if setgid(gid_t(user.gid)) != 0 { return fail("setgid", errno) }
        if setuid(uid_t(user.uid)) != 0 { return fail("setuid", errno) }
        guard getuid() == user.uid, geteuid() == user.uid, getgid() == user.gid, getegid() == user.gid else {
            return fail("the check after setuid", EPERM)
        }
        // As gosu does: a process that could become root again has not dropped anything.
        if user.uid != 0 && setuid(0) == 0 { return fail("the check that root cannot be regained", EPERM) }
        return nil
    }
}
