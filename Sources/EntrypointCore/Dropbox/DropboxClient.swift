// The few Dropbox HTTP calls entrypoint needs, on libcurl: token refresh, get_metadata, and the
// authenticated request with its 401 refresh. Retries are in Retry.swift, the download in Download.swift.
import CCurl
import CShims
import Glibc

public final class DropboxClient {
    let config: Configuration
    let log: Logger
    let curl: any Transport
    /// The handle for requests to DROPBOX_CONTENT_URL when it is not `curl`: the one a cold
    /// start's pre-connect warmed, adopted with `adoptContentConnection` (ContentPreconnect.swift).
    /// Token refreshes stay on `curl`.
    private(set) var contentCurl: (any Transport)?
    /// The attempt budget, the backoff, the deadline and its name (RetryPolicy.swift).
    var retry: RetryPolicy
    /// The value of the Dropbox-API-Path-Root header sent with every call (PathRoot.swift), or nil.
    var pathRoot: String?
    private var accessToken: String?
    private var tokenExpiry: Double = .infinity

    init(config: Configuration, log: Logger, curl: any Transport, retry: RetryPolicy) {
        self.config = config
        self.log = log
        self.curl = curl
        self.retry = retry
        if case .accessToken(let token, _) = config.credentials { accessToken = token }
        if case .id(let id) = config.rootNamespace { pathRoot = RootNamespace.header(mode: "namespace_id", id: id) }
    }

    /// A client with the configured retries and `deadline`, named as the restore's deadline.
    convenience init(config: Configuration, log: Logger, curl: any Transport, deadline: Double) {
        self.init(config: config, log: log, curl: curl, retry: RetryPolicy(config: config, deadline: deadline))
    }

    /// Monotonic time after which nothing more is attempted (the retry policy's deadline).
    var deadline: Double { retry.deadline }
    /// The deadline as the lines name it: the restore's by default; `--backup` sets its own.
    var deadlineName: String {
        get { retry.deadlineName }
        set { retry.deadlineName = newValue }
    }

    // MARK: - the content host's connection

    /// Every transfer of this client polls `check` from now on (nil: no more) and stops when it
    /// says so (`EntrypointError.Cause.gaveWay`): a streamed backup giving way to the app.
    func giveWay(when check: (() -> Bool)?) {
        curl.giveWay(when: check)
        contentCurl?.giveWay(when: check)
    }

    /// A second handle like this client's own, with its own connection cache, for warming up the
    /// content host on another thread; nil when the client's transport cannot make one.
    func makeContentHandle() throws(EntrypointError) -> Curl? { try curl.sibling() }

    /// From now on the requests to DROPBOX_CONTENT_URL go over `transport` (and so over the
    /// connection it holds). Called on the thread that uses the client, once no other thread
    /// touches `transport`.
    func adoptContentConnection(_ transport: any Transport) {
        contentCurl = transport
    }

    // MARK: - authentication

    /// The access token when one is at hand without a request (DROPBOX_ACCESS_TOKEN, or a refreshed
    /// one still valid), else nil.
    var tokenAtHand: String? {
        if let token = accessToken, Clock.now() < tokenExpiry - 60 { return token }
        return nil
    }

    private func ensureToken() throws(EntrypointError) -> String {
        if let token = tokenAtHand { return token }
        if accessToken == nil || config.credentials.refreshCredentials != nil {
            try refreshToken()
        }
        return accessToken ?? ""
    }

    /// The refresh-token flow (secret or PKCE): POST /oauth2/token, form-encoded, with retries.
    func refreshToken() throws(EntrypointError) {
        guard let r = config.credentials.refreshCredentials else {
            throw EntrypointError(.authRejected, "no way to renew DROPBOX_ACCESS_TOKEN: set DROPBOX_APP_KEY and DROPBOX_REFRESH_TOKEN")
        }
        var fields = [("grant_type", "refresh_token"), ("refresh_token", r.refreshToken), ("client_id", r.appKey)]
        if let secret = r.appSecret { fields.append(("client_secret", secret)) }
        let json = try tokenRequest("token refresh", fields: fields) { status, code, detail in
            switch code {
            case "invalid_grant":
                EntrypointError(.authRejected, "Dropbox rejected DROPBOX_REFRESH_TOKEN (HTTP \(status) \(detail)); create a new refresh token")
            case "invalid_client":
                EntrypointError(.authRejected, "Dropbox rejected DROPBOX_APP_KEY or DROPBOX_APP_SECRET (HTTP \(status) \(detail))")
            case "invalid_request" where r.appSecret == nil:
                EntrypointError(
                    .authRejected,
                    "Dropbox refused the refresh without DROPBOX_APP_SECRET (HTTP \(status) \(detail)); this refresh token was not issued with PKCE, so set DROPBOX_APP_SECRET"
                )
            default:
                EntrypointError(.authRejected, "token refresh refused: HTTP \(status) \(detail)")
            }
        }
        accessToken = json["access_token"]?.string
        log.addSecrets([accessToken ?? ""])
        if let seconds = json["expires_in"]?.number, seconds > 0 {
            tokenExpiry = Clock.now() + seconds
        } else {
            tokenExpiry = .infinity
        }
        log.debug("access token refreshed (valid for \(json["expires_in"]?.number?.clean ?? "?")s)")
    }

    /// One POST to /oauth2/token (form-encoded `fields`), with the retry loop: the answer's JSON, which
    /// holds an access_token. A refusal (any status that is not retried) becomes `refused(status,
    /// the OAuth error code, a one-line summary)`.
    func tokenRequest(
        _ what: String, fields: [(String, String)], refused: (Int, String, String) -> EntrypointError
    ) throws(EntrypointError) -> JSON {
        let body = fields.map { "\($0.0)=\(formEncode($0.1))" }.joined(separator: "&")
        let url = config.apiURL + "/oauth2/token"
        return try withRetry(what) { () throws(EntrypointError) -> Attempt<JSON> in
            let response: HTTPResponse
            do throws(TransportError) {
                response = try curl.perform(
                    method: "POST", url: url, headers: ["Content-Type: application/x-www-form-urlencoded"],
                    body: .bytes(Array(body.utf8)), deadline: deadline, sink: nil, progress: nil)
            } catch {
                return try transportAttempt(error, what)
            }
            if case .retry(let after, let reason, _, _) = Self.classify(response) { return .retry(after: after, reason: reason) }
            guard response.status == 200 else {
                throw refused(response.status, response.json?["error"]?.string ?? "", Self.summary(response))
            }
            guard let json = response.json, json["access_token"]?.string != nil else {
                throw EntrypointError(.unavailable, "\(what): Dropbox answered 200 without an access_token")
            }
            return .done(json)
        }
    }

    /// Sends one authenticated request with retries (one retry loop, see withRetry); a 401 triggers
    /// one refresh and one resend. Returns the first response that is not retryable (any 2xx, 4xx
    /// other than 401/408/425/429).
    func send(
        _ route: String, host: String, headers: @escaping () -> [String], body: () -> RequestBody,
        sink: ((UnsafeRawBufferPointer, TransferState) -> Bool)? = nil,
        sinkError: () -> EntrypointError? = { nil },
        progress: ((Int64, Int64) -> Void)? = nil,
        pathRoot: Bool = true
    ) throws(EntrypointError) -> HTTPResponse {
        var refreshed = false
        return try withRetry(route) { () throws(EntrypointError) -> Attempt<HTTPResponse> in
            try attempt(
                route, host: host, headers: headers, body: body, sink: sink, sinkError: sinkError, progress: progress, refreshed: &refreshed, pathRoot: pathRoot
            )
        }
    }

    /// One attempt at an authenticated request, without retrying: a transport failure or a
    /// retryable status is returned as `.retry` for the caller's (single) retry loop. A 401 is
    /// answered by one token refresh per operation (`refreshed`) and a resend.
    func attempt(
        _ route: String, host: String, headers: () -> [String], body: () -> RequestBody,
        sink: ((UnsafeRawBufferPointer, TransferState) -> Bool)? = nil,
        sinkError: () -> EntrypointError? = { nil },
        progress: ((Int64, Int64) -> Void)? = nil,
        refreshed: inout Bool,
        pathRoot usePathRoot: Bool = true
    ) throws(EntrypointError) -> Attempt<HTTPResponse> {
        let url = host + "/2/" + route
        // DROPBOX_ROOT_NAMESPACE: every call but the one that finds the root carries the header.
        if usePathRoot { try resolvePathRoot() }
        let rootHeaders = usePathRoot ? pathRootHeaders() : []
        let transport = host == config.contentURL ? contentCurl ?? curl : curl
        var response: HTTPResponse
        while true {
            let token = try ensureToken()
            do throws(TransportError) {
                response = try transport.perform(
                    method: "POST", url: url, headers: ["Authorization: Bearer \(token)"] + rootHeaders + headers(),
                    body: body(), deadline: deadline, sink: sink, progress: progress)
            } catch {
                if let e = sinkError() { throw e }
                return try transportAttempt(error, route)
            }
            guard response.status == 401 else { break }
            let reason = Self.summary(response)
            if refreshed || config.credentials.refreshCredentials == nil {
                if config.credentials.refreshCredentials == nil {
                    throw EntrypointError(
                        .authRejected,
                        "Dropbox rejected DROPBOX_ACCESS_TOKEN (HTTP 401 \(reason)); access tokens expire after 4 hours: set DROPBOX_APP_KEY, DROPBOX_APP_SECRET and DROPBOX_REFRESH_TOKEN instead"
                    )
                }
                throw EntrypointError(
                    .authRejected,
                    "Dropbox rejected a freshly refreshed access token for \(route) (HTTP 401 \(reason)); check the app's permissions (files.content.read/write)"
                )
            }
            log.info("access token rejected by \(route) (\(reason)); refreshing it")
            refreshed = true
            try refreshToken()
        }
        return Self.classify(response)
    }

    /// Turns a non-success response into an error naming the route, status and Dropbox's summary.
    /// Dropbox's answers with their own meaning (Answers.swift) get their own line and code.
    func failure(_ route: String, _ response: HTTPResponse, path: String? = nil) -> EntrypointError {
        let summary = Self.summary(response)
        let cause = EntrypointError.Cause.http(status: response.status, summary: summary)
        if let refusal = DropboxRefusal.of(response, route: route) {
            return refusal.error(route, status: response.status, summary: summary, path: path ?? config.remotePath, pathRoot: pathRoot)
        }
        switch response.status {
        case 400:
            return EntrypointError(.config, "Dropbox refused \(route): HTTP 400 \(summary) (check DROPBOX_DB_PATH)", cause: cause)
        case 403:
            return EntrypointError(.authRejected, "Dropbox refused \(route): HTTP 403 \(summary) (the app lacks permission)", cause: cause)
        default:
            return EntrypointError(.unavailable, "Dropbox refused \(route): HTTP \(response.status) \(summary)", cause: cause)
        }
    }

    // MARK: - files/get_metadata

    /// The remote file's metadata, or nil when it does not exist (409 path/not_found).
    public func metadata(_ path: String) throws(EntrypointError) -> RemoteFile? {
        let arg = JSON.object([("path", .string(path)), ("include_deleted", .bool(false))]).encoded()
        let response = try send(
            "files/get_metadata", host: config.apiURL, headers: { ["Content-Type: application/json"] },
            body: { .bytes(Array(arg.utf8)) })
        if response.status == 409 {
            let summary = Self.summary(response)
            if summary.hasPrefix("path/not_found") { return nil }
            if summary.hasPrefix("path/not_file") || summary.hasPrefix("path/not_folder") {
                throw EntrypointError(.config, "DROPBOX_DB_PATH=\(path) is a folder in Dropbox, not a file")
            }
            throw EntrypointError(.unavailable, "files/get_metadata \(path): HTTP 409 \(summary)", cause: .http(status: 409, summary: summary))
        }
        guard response.status == 200 else { throw failure("files/get_metadata", response) }
        guard let json = response.json else {
            throw EntrypointError(.unavailable, "files/get_metadata \(path): the answer is not JSON")
        }
        if json[".tag"]?.string == "folder" {
            throw EntrypointError(.config, "DROPBOX_DB_PATH=\(path) is a folder in Dropbox, not a file")
        }
        guard let file = RemoteFile(json) else {
            throw EntrypointError(.unavailable, "files/get_metadata \(path): the answer lacks rev, size or content_hash")
        }
        return file
    }
}
