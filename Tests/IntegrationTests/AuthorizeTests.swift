// `entrypoint --authorize` end to end against the fake Dropbox: the printed URL is
// opened as a browser would (a GET of the fake's authorize page gives the code), the code is pasted on
// standard input, and the printed refresh token then drives a real restore.
import CShims
import Foundation
import TestSupport
import Testing

/// The binary run with a controllable standard input: a pipe, a pseudo-terminal, /dev/null or closed.
final class Interactive: @unchecked Sendable {
    enum Input { case pipe, pty, null, closed }

    let pid: pid_t
    private var inFD: Int32 = -1
    private var outFD: Int32 = -1
    private var errFD: Int32 = -1
    private(set) var out = Data()
    private(set) var err = Data()
    var stderr: String { String(decoding: err, as: UTF8.self) }

    init(_ arguments: [String], env: [String: String], input: Input) throws {
        var environment = ["PATH": "/usr/local/bin:/usr/bin:/bin", "ENTRYPOINT_BACKOFF_BASE": "0.05", "ENTRYPOINT_BACKOFF_CAP": "0.2"]
        environment.merge(env) { _, new in new }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var inPipe: [Int32] = [-1, -1]
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        guard ep_pipe_cloexec(&outPipe) == 0, ep_pipe_cloexec(&errPipe) == 0 else { throw CocoaError(.fileWriteUnknown) }
        var slave: String?
        switch input {
        case .pipe:
            guard ep_pipe_cloexec(&inPipe) == 0 else { throw CocoaError(.fileWriteUnknown) }
            posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        case .pty:
            // posix_openpt/unlockpt/ptsname by hand (Glibc's overlay lacks them): /dev/ptmx, TIOCSPTLCK, TIOCGPTN.
            let master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
            var unlock: CInt = 0
            var number: CInt = -1
            let tiocsptlck: UInt = 0x4004_5431
            let tiocgptn: UInt = 0x8004_5430  // unlock the pty; its number
            guard master >= 0, ioctl(master, tiocsptlck, &unlock) == 0, ioctl(master, tiocgptn, &number) == 0 else {
                throw CocoaError(.fileWriteUnknown)
            }
            slave = "/dev/pts/\(number)"
            inPipe = [-1, master]
            posix_spawn_file_actions_addopen(&actions, 0, slave!, O_RDWR | O_NOCTTY, 0)
        case .null:
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        case .closed:
            posix_spawn_file_actions_addclose(&actions, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        let (rc, pid) = spawn(Paths.binary, arguments, env: environment, actions: &actions)
        close(outPipe[1])
        close(errPipe[1])
        if inPipe[0] >= 0 { close(inPipe[0]) }
        guard rc == 0 else { throw NSError(domain: "spawn", code: Int(rc)) }
        self.pid = pid
        inFD = inPipe[1]
        outFD = outPipe[0]
        errFD = errPipe[0]
    }

    deinit {
        for fd in [inFD, outFD, errFD] where fd >= 0 { close(fd) }
    }

    /// Reads what is available on stdout/stderr (and drains a pty's echo) for up to `seconds`.
    private func pump(_ seconds: Double) -> Bool {
        var fds = [outFD, errFD].filter { $0 >= 0 }
        if inFD >= 0 && isatty(inFD) == 1 { fds.append(inFD) }
        guard !fds.isEmpty else { return false }
        var polls = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        _ = poll(&polls, nfds_t(polls.count), Int32(seconds * 1000))
        var buffer = [UInt8](repeating: 0, count: 65536)
        var progress = false
        for p in polls where p.revents != 0 {
            let n = read(p.fd, &buffer, buffer.count)
            if n > 0 {
                progress = true
                if p.fd == outFD { out.append(contentsOf: buffer[0..<n]) } else if p.fd == errFD { err.append(contentsOf: buffer[0..<n]) }
            } else if p.fd == outFD || p.fd == errFD {
                close(p.fd)
                if p.fd == outFD { outFD = -1 } else { errFD = -1 }
            }
        }
        return progress
    }

    /// Waits until stderr contains `needle`.
    @discardableResult
    func waitFor(_ needle: String, timeout: Double = 30) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !stderr.contains(needle) {
            if Date() > deadline || (outFD < 0 && errFD < 0) { return false }
            _ = pump(0.1)
        }
        return true
    }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(inFD, $0.baseAddress, $0.count) }
    }

    func closeInput() {
        if inFD >= 0 { close(inFD) }
        inFD = -1
    }

    /// Reads to EOF and reaps; checks that no known secret (and none of `secrets`) reached stderr.
    func finish(timeout: Double = 60, secrets: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) -> RunResult {
        let deadline = Date().addingTimeInterval(timeout)
        while outFD >= 0 || errFD >= 0 {
            if Date() > deadline {
                Issue.record("entrypoint did not finish within \(timeout)s", sourceLocation: sourceLocation)
                kill(pid, SIGKILL)
                break
            }
            _ = pump(0.2)
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        let result = RunResult(status: code, stdout: String(decoding: out, as: UTF8.self), stderr: stderr, pid: pid)
        expectNoSecrets(in: result.output, Secrets.all + secrets.filter { !$0.isEmpty }, sourceLocation: sourceLocation)
        return result
    }
}

@Suite struct AuthorizeTests {
    /// The environment for --authorize against the fake (no restore variables needed).
    func env(_ w: World, _ extra: [String: String]) -> [String: String] {
        var env = [
            "DROPBOX_API_URL": w.fake.url, "DROPBOX_AUTHORIZE_URL": w.fake.url + "/oauth2/authorize",
            "SSL_CERT_FILE": Paths.certs + "/ca.pem",
        ]
        env.merge(extra) { _, new in new }
        return env
    }

    /// The authorize URL the binary printed (a line of its own on stderr).
    func printedURL(_ w: World, _ p: Interactive, sourceLocation: SourceLocation = #_sourceLocation) throws -> URLComponents {
        let prefix = w.fake.url + "/oauth2/authorize?"
        #expect(p.waitFor(prefix), "no authorize URL: \(p.stderr)", sourceLocation: sourceLocation)
        let line = try #require(p.stderr.split(separator: "\n").first { $0.hasPrefix(prefix) }, sourceLocation: sourceLocation)
        return try #require(URLComponents(string: String(line)), sourceLocation: sourceLocation)
    }

    /// Opens `url` as the user's browser would and returns the code the page shows (nil on an error page).
    func openInBrowser(_ url: String) throws -> String? {
        let script =
            "import ssl,sys,urllib.request\nc=ssl.create_default_context(cafile=sys.argv[1])\nprint(urllib.request.urlopen(sys.argv[2],context=c,timeout=20).read().decode().strip())"
        let child = try Spawned("/usr/bin/env", ["python3", "-c", script, Paths.certs + "/ca.pem", url], env: ProcessInfo.processInfo.environment)
        let r = child.finish(timeout: 30)
        guard r.status == 0 else { return nil }
        return String(decoding: r.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func query(_ c: URLComponents) -> [String: String] {
        Dictionary((c.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, b in b })
    }

    /// Runs --authorize, opens the printed URL, pastes the code; returns the result and the code.
    func authorize(_ w: World, _ extra: [String: String], input: Interactive.Input = .pipe, paste: ((String) -> String)? = nil) throws -> (RunResult, String) {
        let p = try Interactive(["--authorize"], env: env(w, extra), input: input)
        let url = try printedURL(w, p)
        let code = try #require(try openInBrowser(url.string!), "the fake's authorize page refused \(url)")
        p.send((paste?(code) ?? code) + "\n")
        if input == .pipe { p.closeInput() }
        let r = p.finish(secrets: [code, Secrets.appSecret])
        return (r, code)
    }

    func tokenRequest(_ w: World) throws -> [String: Any] {
        try #require(w.fake.requests("oauth2/token").first { ($0["arg"] as? [String: Any])?["grant_type"] as? String == "authorization_code" })
    }

    /// stdout is exactly the two variable lines; returns the refresh token.
    func variableLines(_ r: RunResult, key: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.count == 3 && lines[2].isEmpty, "stdout: \(r.stdout)", sourceLocation: sourceLocation)
        #expect(lines.first == "DROPBOX_APP_KEY=\(key)", sourceLocation: sourceLocation)
        let second = try #require(lines.dropFirst().first, sourceLocation: sourceLocation)
        #expect(second.hasPrefix("DROPBOX_REFRESH_TOKEN="), sourceLocation: sourceLocation)
        let token = String(second.dropFirst("DROPBOX_REFRESH_TOKEN=".count))
        #expect(!token.isEmpty, sourceLocation: sourceLocation)
        #expect(!r.stderr.contains(token), "the refresh token is on stderr", sourceLocation: sourceLocation)
        #expect(!r.stdout.contains("DROPBOX_APP_SECRET"), sourceLocation: sourceLocation)
        return token
    }

    @Test func pkceEndToEndThenRestore() throws {
        let w = try World()
        let p = try Interactive(["--authorize"], env: env(w, ["DROPBOX_APP_KEY": Secrets.pkceKey]), input: .pipe)
        let url = try printedURL(w, p)
        let q = query(url)
        #expect(q["client_id"] == Secrets.pkceKey && q["response_type"] == "code" && q["token_access_type"] == "offline")
        #expect(q["code_challenge_method"] == "S256")
        let challenge = try #require(q["code_challenge"])
        #expect(challenge.count == 43 && !challenge.contains("="), "\(challenge)")
        #expect(!p.stderr.contains("Access code:"), "a prompt only on a terminal")
        let code = try #require(try openInBrowser(url.string!))
        p.send(" \(code) \n")  // surrounding whitespace is trimmed
        p.closeInput()
        let r = p.finish(secrets: [code])
        #expect(r.status == 0, "\(r.output)")
        let token = try variableLines(r, key: Secrets.pkceKey)
        #expect(r.stderr.contains("no DROPBOX_APP_SECRET is needed"))
        // The exchange carried the verifier for that challenge (the fake checks S256), and no secret.
        let form = try #require(try tokenRequest(w)["arg"] as? [String: Any])
        #expect(form["code"] as? String == code && form["client_id"] as? String == Secrets.pkceKey)
        #expect(form["client_secret"] == nil)
        let verifier = try #require(form["code_verifier"] as? String)
        #expect((43...128).contains(verifier.count))
        #expect(
            verifier.unicodeScalars.allSatisfy { CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~").contains($0) }
        )
        #expect(!r.output.contains(verifier))
        // One authenticated check of the new token.
        let check = try #require(w.fake.requests("users/get_current_account").first)
        #expect(check["status"] as? Int == 200 && check["content_type"] as? String == "application/json")
        #expect((check["auth"] as? String).map(Secrets.issued.contains) == true)
        // The printed lines work: a real restore with them.
        try w.publish(["authorized-pkce"])
        let restore = try run([], env: w.env(["DROPBOX_APP_KEY": Secrets.pkceKey, "DROPBOX_REFRESH_TOKEN": token], token: nil))
        #expect(restore.status == 0, "\(restore.output)")
        #expect(try DB.items(w.db) == ["authorized-pkce"])
    }

    @Test func secretEndToEndThenRestore() throws {
        let w = try World()
        let (r, code) = try authorize(w, ["DROPBOX_APP_KEY": Secrets.appKey, "DROPBOX_APP_SECRET": Secrets.appSecret])
        #expect(r.status == 0, "\(r.output)")
        let token = try variableLines(r, key: Secrets.appKey)
        #expect(r.stderr.contains("also set DROPBOX_APP_SECRET"))
        let form = try #require(try tokenRequest(w)["arg"] as? [String: Any])
        #expect(form["code"] as? String == code && form["client_secret"] as? String == Secrets.appSecret)
        #expect(form["code_verifier"] == nil)
        let page = try #require(w.fake.requests("oauth2/authorize").first?["arg"] as? [String: Any])
        #expect(page["code_challenge"] == nil && page["token_access_type"] as? String == "offline")
        try w.publish(["authorized-secret"])
        let restore = try run(
            [], env: w.env(["DROPBOX_APP_KEY": Secrets.appKey, "DROPBOX_APP_SECRET": Secrets.appSecret, "DROPBOX_REFRESH_TOKEN": token], token: nil))
        #expect(restore.status == 0, "\(restore.output)")
        #expect(try DB.items(w.db) == ["authorized-secret"])
    }

    func errorLines(_ r: RunResult) -> [Substring] {
        r.stderr.split(separator: "\n").filter { $0.hasPrefix("entrypoint: error:") }
    }

    @Test func wrongUsedOrExpiredCodeIsOneLineAnd77() throws {
        let w = try World()
        let (wrong, _) = try authorize(w, ["DROPBOX_APP_KEY": Secrets.pkceKey], paste: { _ in "not-the-code" })
        #expect(wrong.status == 77, "\(wrong.output)")
        #expect(errorLines(wrong).count == 1 && wrong.stderr.contains("invalid_grant"), "\(wrong.stderr)")
        #expect(wrong.stdout.isEmpty)
        // A code works once: paste the same one into a second run.
        let (first, code) = try authorize(w, ["DROPBOX_APP_KEY": Secrets.appKey, "DROPBOX_APP_SECRET": Secrets.appSecret])
        #expect(first.status == 0, "\(first.output)")
        let again = try Interactive(["--authorize"], env: env(w, ["DROPBOX_APP_KEY": Secrets.appKey, "DROPBOX_APP_SECRET": Secrets.appSecret]), input: .pipe)
        _ = try printedURL(w, again)
        again.send(code + "\n")
        again.closeInput()
        let used = again.finish(secrets: [code])
        #expect(used.status == 77, "\(used.output)")
        #expect(errorLines(used).count == 1 && used.stderr.contains("code doesn't exist or has expired"), "\(used.stderr)")
        #expect(used.stdout.isEmpty)
        // An expired code.
        w.fake.extra["code_expires_in"] = 0
        try w.fake.write()
        let (expired, _) = try authorize(w, ["DROPBOX_APP_KEY": Secrets.appKey, "DROPBOX_APP_SECRET": Secrets.appSecret])
        #expect(expired.status == 77 && expired.stderr.contains("invalid_grant"), "\(expired.output)")
    }

    @Test func wrongKeyOrSecretIs77() throws {
        let w = try World()
        let (secret, _) = try authorize(w, ["DROPBOX_APP_KEY": Secrets.appKey, "DROPBOX_APP_SECRET": "WRONG-SECRET-0000"])
        #expect(secret.status == 77, "\(secret.output)")
        #expect(errorLines(secret).count == 1 && secret.stderr.contains("invalid_client") && secret.stderr.contains("DROPBOX_APP_SECRET"), "\(secret.stderr)")
        #expect(!secret.output.contains("WRONG-SECRET-0000"))
        // A wrong key: Dropbox's page refuses it, so take a code for the right app (as a user with two apps might).
        let p = try Interactive(["--authorize"], env: env(w, ["DROPBOX_APP_KEY": "wrongkey999", "DROPBOX_APP_SECRET": Secrets.appSecret]), input: .pipe)
        let url = try printedURL(w, p).string!
        #expect(try openInBrowser(url) == nil, "the authorize page refuses an unknown client_id")
        let code = try #require(try openInBrowser(url.replacingOccurrences(of: "client_id=wrongkey999", with: "client_id=\(Secrets.appKey)")))
        p.send(code + "\n")
        p.closeInput()
        let key = p.finish(secrets: [code])
        #expect(key.status == 77, "\(key.output)")
        #expect(errorLines(key).count == 1 && key.stderr.contains("invalid_client") && key.stderr.contains("DROPBOX_APP_KEY"), "\(key.stderr)")
    }

    @Test(arguments: [Interactive.Input.null, .closed, .pipe])
    func emptyInputIsOneLineAnd64(input: Interactive.Input) throws {
        let w = try World()
        let p = try Interactive(["--authorize"], env: env(w, ["DROPBOX_APP_KEY": Secrets.pkceKey]), input: input)
        if input == .pipe {
            _ = try printedURL(w, p)
            p.send("   \n")
            p.closeInput()
        }
        let r = p.finish()
        #expect(r.status == 64, "\(r.output)")
        #expect(errorLines(r).count == 1 && r.stderr.contains("no code"), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
        #expect(w.fake.requests("oauth2/token").isEmpty)
    }

    @Test func ctrlCWhileWaitingIs130() throws {
        let w = try World()
        let p = try Interactive(["--authorize"], env: env(w, ["DROPBOX_APP_KEY": Secrets.pkceKey]), input: .pipe)
        _ = try printedURL(w, p)
        p.waitFor("paste the code")
        usleep(200_000)
        kill(p.pid, SIGINT)
        let r = p.finish(timeout: 20)
        p.closeInput()
        #expect(r.status == 130, "\(r.output)")
        #expect(errorLines(r) == ["entrypoint: error: stopped by SIGINT; no refresh token was printed"], "\(r.stderr)")
        #expect(r.stdout.isEmpty)
        #expect(w.fake.requests("oauth2/token").isEmpty)
    }

    @Test func promptOnATerminal() throws {
        let w = try World()
        // ENTRYPOINT_LOG_LEVEL=error (copied from a service) does not hide the instructions.
        let (r, _) = try authorize(w, ["DROPBOX_APP_KEY": Secrets.pkceKey, "ENTRYPOINT_LOG_LEVEL": "error"], input: .pty)
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("Access code: "))
        #expect(r.stderr.contains("1. open this URL") && r.stderr.contains("3. paste the code here"), "\(r.stderr)")
        _ = try variableLines(r, key: Secrets.pkceKey)
    }

    @Test func noAppKeyIs78() throws {
        let w = try World()
        // A refresh token or access token in the environment changes nothing: the key is missing.
        for extra in [[:], ["DROPBOX_REFRESH_TOKEN": Secrets.refreshToken], ["DROPBOX_APP_SECRET": Secrets.appSecret]] {
            let p = try Interactive(["--authorize"], env: env(w, extra), input: .pipe)
            let r = p.finish(timeout: 20)
            #expect(r.status == 78, "\(r.output)")
            #expect(errorLines(r).count == 1 && r.stderr.contains("DROPBOX_APP_KEY is not set"), "\(r.stderr)")
            #expect(!r.stderr.contains("/oauth2/authorize?"))
        }
        // An existing refresh token beside the key does not stop --authorize (it is what gets replaced).
        let (r, _) = try authorize(w, ["DROPBOX_APP_KEY": Secrets.pkceKey, "DROPBOX_REFRESH_TOKEN": Secrets.pkceRefresh])
        #expect(r.status == 0, "\(r.output)")
    }

    @Test func exchangeIsRetriedOn5xx() throws {
        let w = try World()
        try w.fake.fault(["route": "oauth2/token", "kind": "status", "status": 503, "times": 2])
        let (r, _) = try authorize(w, ["DROPBOX_APP_KEY": Secrets.pkceKey])
        #expect(r.status == 0, "\(r.output)")
        #expect(w.fake.requests("oauth2/token").map { $0["status"] as? Int } == [503, 503, 200])
        #expect(r.stderr.contains("retrying in"))
        _ = try variableLines(r, key: Secrets.pkceKey)
    }

    @Test func missingPermissions() throws {
        let w = try World()
        w.fake.extra["app_scopes"] = [Secrets.pkceKey: "account_info.read files.metadata.read"]
        try w.fake.write()
        let (r, _) = try authorize(w, ["DROPBOX_APP_KEY": Secrets.pkceKey])
        #expect(r.status == 77, "\(r.output)")
        #expect(errorLines(r).count == 1 && r.stderr.contains("files.content.read"), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
        w.fake.extra["app_scopes"] = [Secrets.pkceKey: "account_info.read files.metadata.read files.content.read"]
        try w.fake.write()
        let (ok, _) = try authorize(w, ["DROPBOX_APP_KEY": Secrets.pkceKey])
        #expect(ok.status == 0, "\(ok.output)")
        #expect(ok.stderr.contains("warning:") && ok.stderr.contains("files.content.write"), "\(ok.stderr)")
        _ = try variableLines(ok, key: Secrets.pkceKey)
    }
}
