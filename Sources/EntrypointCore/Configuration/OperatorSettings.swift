// The operator's settings around the app: ENTRYPOINT_HEARTBEAT_URL (a secret), ENTRYPOINT_APP_USER
// and ENTRYPOINT_PASS_SECRETS. Parsed here so that Configuration.swift only names them.
extension Configuration {
    /// ENTRYPOINT_HEARTBEAT_URL: `https://host[:port][/path]`, plain http only on loopback (the rule of
    /// the base URLs). It is a secret (the path is the check's key), so no message ever echoes it.
    static func heartbeatURL(_ env: [String: String]) throws(EntrypointError) -> String? {
        guard let value = env["ENTRYPOINT_HEARTBEAT_URL"].nonEmpty else { return nil }
        return try baseURL("ENTRYPOINT_HEARTBEAT_URL", value, secret: true, characterNote: "a query string cannot take the /fail suffix")
    }

    /// ENTRYPOINT_APP_USER's syntax (exit 78); the lookup happens at the start (exit 71).
    static func appUser(_ env: [String: String]) throws(EntrypointError) -> AppUser.Spec? {
        guard let value = env["ENTRYPOINT_APP_USER"].nonEmpty else { return nil }
        switch AppUser.parse(value) {
        case .success(let spec): return spec
        case .failure(let error): throw error
        }
    }

    /// The rows --check adds for these settings.
    var operatorSummary: [(String, String)] {
        [
            ("ENTRYPOINT_HEARTBEAT_URL", heartbeatURL == nil ? "(not set)" : "(set, redacted)"),
            ("ENTRYPOINT_APP_USER", appUser?.raw ?? "(not set: the app runs as entrypoint's user)"),
            (
                "ENTRYPOINT_PASS_SECRETS",
                passSecrets ? "1 (the app's environment keeps the Dropbox secrets: a risk)" : "0 (the app's environment has no Dropbox secrets)"
            ),
        ]
    }
}
