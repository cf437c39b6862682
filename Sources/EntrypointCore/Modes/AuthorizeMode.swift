// --authorize: get a refresh token once, on any machine, without a redirect server. Prints the
// authorize URL and instructions on stderr, reads the code the user pastes on stdin, exchanges it,
// checks the token with one call, and prints exactly the variable lines on stdout.
import CShims
import Glibc

struct AuthorizeMode {
    let environment: [String: String]
    let log: Logger

    /// The credential variables: --authorize needs none but the app key (and secret), and must not
    /// fail over a refresh token that is set but about to be replaced.
    static let credentialVariables = ["DROPBOX_ACCESS_TOKEN", "DROPBOX_APP_KEY", "DROPBOX_APP_SECRET", "DROPBOX_REFRESH_TOKEN"]

    func run() throws(EntrypointError) {
        Signals.install()
        defer { fflush(nil) }
        do throws(EntrypointError) {
            try authorize()
        } catch {
            if let sig = error.signal { throw EntrypointError(signal: sig, consequence: "no refresh token was printed") }
            throw error
        }
    }

    private func authorize() throws(EntrypointError) {
        // The other settings (DROPBOX_API_URL, timeouts, retries, log level) as for a restore.
        var rest = environment
        for name in Self.credentialVariables {
            rest[name] = nil
            rest[name + "_FILE"] = nil
        }
        let config = try Configuration(environment: rest)
        // The instructions are info lines: a quieter ENTRYPOINT_LOG_LEVEL copied from the service must not hide them.
        log.level = min(config.logLevel, .info)
        guard let appKey = try Configuration.readSecret("DROPBOX_APP_KEY", environment) else {
            throw EntrypointError(
                .config,
                "DROPBOX_APP_KEY is not set: --authorize needs the app key (App Console, the app's Settings page), and DROPBOX_APP_SECRET unless you want PKCE")
        }
        let secret = try Configuration.readSecret("DROPBOX_APP_SECRET", environment)
        // The app key is public (it is in the URL); the secret is not.
        if let secret { log.addSecrets([secret]) }
        let base = try Configuration.baseURL(
            "DROPBOX_AUTHORIZE_URL", environment["DROPBOX_AUTHORIZE_URL"].nonEmpty ?? OAuth.defaultAuthorizeURL)
        let pkce = secret == nil ? PKCE.random() : nil
        if let pkce { log.addSecrets([pkce.verifier]) }
        let url = OAuth.authorizeURL(base: base, appKey: appKey, pkce: pkce)

        let terminal = isatty(0) == 1
        log.info("getting a refresh token for the Dropbox app \(appKey) (\(pkce == nil ? "with DROPBOX_APP_SECRET" : "PKCE, no app secret"))")
        log.info("1. open this URL in a browser, signed in to the Dropbox account that holds the database:")
        log.write("\n" + log.redact(url) + "\n\n")
        log.info("2. click Continue and Allow; Dropbox then shows an access code")
        log.info("3. paste the code \(terminal ? "here" : "on standard input") and press Enter (it works once, for a few minutes)")
        if terminal { log.write("Access code: ") }

        let code: String
        do throws(EntrypointError) {
            code = try readCode()
        } catch {
            if terminal { log.write("\n") }
            throw error
        }
        log.addSecrets([code])

        let ca = try CASource.resolve(environment: environment)
        let curl = try Curl(caSource: ca, connectTimeout: config.connectTimeout, stallTimeout: config.stallTimeout)
        let client = DropboxClient(config: config, log: log, curl: curl, deadline: Clock.now() + config.deadline)
        let tokens = try client.exchangeCode(code, appKey: appKey, secret: secret, verifier: pkce?.verifier)
        if let scopes = tokens.scopes {
            let missing = OAuth.restoreScopes.filter { !scopes.contains($0) }
            if !missing.isEmpty {
                throw EntrypointError(
                    .authRejected,
                    "the Dropbox app lacks the permission\(missing.count > 1 ? "s" : "") \(missing.joined(separator: ", ")) needed to restore (granted: \(scopes.joined(separator: " "))); tick \(missing.joined(separator: ", ")) and files.content.write on the app's Permissions tab, Submit, then run entrypoint --authorize again (a token keeps the permissions it was issued with)"
                )
            }
            for scope in OAuth.backupScopes where !scopes.contains(scope) {
                log.warning(
                    "the Dropbox app lacks the permission \(scope): restores work, --backup will be refused; tick it on the app's Permissions tab and run entrypoint --authorize again"
                )
            }
        }
        let account = try client.currentAccount(accessToken: tokens.accessToken)
        let name = account["name"]?["display_name"]?.string ?? "?"
        let email = account["email"]?.string.map { " <\($0)>" } ?? ""
        log.info("the new token works: users/get_current_account answered for \(name)\(email)")
        log.info("set these variables on the service (standard output holds exactly these lines):")
        print("DROPBOX_APP_KEY=\(appKey)")
        print("DROPBOX_REFRESH_TOKEN=\(tokens.refreshToken)")
        if fflush(nil) != 0 {
            throw EntrypointError(
                .localIO, "cannot write the variable lines to standard output: \(errnoText(errno)); the refresh token is lost, run entrypoint --authorize again"
            )
        }
        if secret != nil {
            log.info("also set DROPBOX_APP_SECRET to the app secret used here (not printed: it is a secret); this refresh token needs it")
        } else {
            log.info("no DROPBOX_APP_SECRET is needed: this refresh token was issued with PKCE")
        }
    }

    /// One line from standard input, trimmed. Waits in poll so a SIGINT (handler installed, no
    /// SA_RESTART) is seen promptly. EOF or a blank line is an error.
    private func readCode() throws(EntrypointError) -> String {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var ended = false
        reading: while true {
            try Signals.throwIfPending()
            var p = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, 200)
            if ready < 0 {
                if errno == EINTR { continue }
                throw EntrypointError(.usage, "cannot read the code from standard input: \(errnoText(errno))")
            }
            if ready == 0 { continue }
            if p.revents & Int16(POLLNVAL) != 0 {
                throw EntrypointError(.usage, "no code: standard input is closed; paste the code from the authorize page on standard input")
            }
            let n = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw EntrypointError(.usage, "cannot read the code from standard input: \(errnoText(errno))")
            }
            if n == 0 {
                ended = true
                break
            }
            for b in buffer[0..<n] {
                if b == UInt8(ascii: "\n") { break reading }
                bytes.append(b)
            }
            if bytes.count > 4096 { throw EntrypointError(.usage, "the pasted code is longer than 4096 bytes; paste only the code the authorize page shows") }
        }
        let code = String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
        guard !code.isEmpty else {
            throw EntrypointError(
                .usage,
                "no code: \(ended ? "standard input ended before a code was pasted" : "the pasted line was blank"); run entrypoint --authorize again and paste the code the authorize page shows"
            )
        }
        guard !code.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == 0x20 }) else {
            throw EntrypointError(.usage, "the pasted code contains spaces or control characters; paste only the code the authorize page shows")
        }
        return code
    }
}
