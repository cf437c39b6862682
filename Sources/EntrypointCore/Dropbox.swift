// The few Dropbox HTTP calls entrypoint needs, on libcurl: token refresh, get_metadata,
// download (pinned to a rev, resumable with Range) and upload. Retries, 401 refresh and the
// overall deadline live here, in one place.
import CCurl
import CShims
import Glibc

/// The fields of a Dropbox FileMetadata that the restore uses.
public struct RemoteFile: Equatable, Sendable {
    public let pathDisplay: String
    public let rev: String
    public let size: UInt64
    public let contentHash: String
    public let serverModified: String

    init?(_ json: JSON) {
        guard json[".tag"]?.string ?? "file" == "file",
            let rev = json["rev"]?.string, let size = json["size"]?.uint64,
            let hash = json["content_hash"]?.string
        else { return nil }
        self.rev = rev
        self.size = size
        self.contentHash = hash.lowercased()
        self.pathDisplay = json["path_display"]?.string ?? json["name"]?.string ?? ""
        self.serverModified = json["server_modified"]?.string ?? ""
    }
}

/// Result of one attempt inside the retry loop.
enum Attempt<T> {
    case done(T)
    case retry(after: Double?, reason: String)
}

public final class DropboxClient {
    let config: Configuration
    let log: Logger
    let curl: Curl
    /// Monotonic time after which nothing more is attempted (ENTRYPOINT_DEADLINE).
    let deadline: Double
    private var accessToken: String?
    private var tokenExpiry: Double = .infinity
    /// Requests made, by route (for --check and tests).
    private(set) var refreshCount = 0

    init(config: Configuration, log: Logger, curl: Curl, deadline: Double) {
        self.config = config
        self.log = log
        self.curl = curl
        self.deadline = deadline
        if case .accessToken(let token, _) = config.credentials { accessToken = token }
    }

    // MARK: - retry loop

    /// Runs `body` until it is done, retrying with capped exponential backoff and full jitter,
    /// honouring the server's Retry-After, within the attempt budget and the deadline.
    func withRetry<T>(_ what: String, _ body: (Int) throws(EntrypointError) -> Attempt<T>) throws(EntrypointError) -> T {
        var attempt = 0
        while true {
            attempt += 1
            try checkSignal()
            switch try body(attempt) {
            case .done(let value):
                return value
            case .retry(let after, let reason):
                if attempt >= config.maxAttempts {
                    throw EntrypointError(.unavailable, "\(what) failed after \(attempt) attempts: \(reason)")
                }
                let backoff = min(config.backoffCap, config.backoffBase * Double(1 << min(attempt - 1, 20)))
                var delay = Double.random(in: 0...backoff)
                if let after { delay = max(delay, after) }
                let left = deadline - Clock.now()
                if delay >= left {
                    throw EntrypointError(
                        .unavailable,
                        "\(what) failed: \(reason); the next try (in \(delay.clean)s) would pass the \(config.deadline.clean)s deadline (ENTRYPOINT_DEADLINE)")
                }
                log.warning("\(what): \(reason); retrying in \(delay.clean)s (attempt \(attempt + 1) of \(config.maxAttempts))")
                if !Clock.sleep(delay) { try checkSignal() }
            }
        }
    }

    func checkSignal() throws(EntrypointError) {
        let sig = ep_signal_pending()
        if sig != 0 { throw EntrypointError(signal: sig) }
    }

    func deadlineError(_ what: String) -> EntrypointError {
        EntrypointError(.unavailable, "\(what): the \(config.deadline.clean)s restore deadline (ENTRYPOINT_DEADLINE) was reached")
    }

    /// Classifies a transport failure: signal and deadline stop, connection errors retry.
    func transportAttempt<T>(_ error: TransportError, _ what: String) throws(EntrypointError) -> Attempt<T> {
        try checkSignal()
        if error.message == "deadline" || Clock.now() >= deadline { throw deadlineError(what) }
        if error.code == CURLE_PEER_FAILED_VERIFICATION || error.code == CURLE_SSL_CACERT_BADFILE {
            throw EntrypointError(.unavailable, "\(what): TLS certificate verification failed: \(error.message) (check SSL_CERT_FILE / the CA bundle)")
        }
        if error.isRetryable { return .retry(after: nil, reason: "\(error.message) (curl \(error.code.rawValue))") }
        throw EntrypointError(.unavailable, "\(what): \(error.message) (curl \(error.code.rawValue))")
    }

    /// Seconds to wait from a 429/503: the Retry-After header or the JSON `retry_after`.
    static func retryAfter(_ response: HTTPResponse) -> Double? {
        if let header = response.headers["retry-after"], let seconds = Double(header.trimmingWhitespace()) {
            return max(0, seconds)
        }
        if let json = response.json, let seconds = json["error"]?["retry_after"]?.number ?? json["retry_after"]?.number {
            return max(0, seconds)
        }
        return nil
    }

    /// One short line describing an error response: the error_summary, or the first line of text.
    static func summary(_ response: HTTPResponse) -> String {
        if let json = response.json {
            if let s = json["error_summary"]?.string { return s }
            if let e = json["error"]?.string {
                return e + (json["error_description"]?.string.map { ": " + $0 } ?? "")
            }
        }
        let text = response.bodyText.split(separator: "\n").first.map(String.init) ?? ""
        return String(text.prefix(200))
    }

    // MARK: - authentication

    private func ensureToken() throws(EntrypointError) -> String {
        if let token = accessToken, Clock.now() < tokenExpiry - 60 { return token }
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
        let body = fields.map { "\($0.0)=\(formEncode($0.1))" }.joined(separator: "&")
        let url = config.apiURL + "/oauth2/token"
        let what = "token refresh"
        let json: JSON = try withRetry(what) { (_) throws(EntrypointError) -> Attempt<JSON> in
            let response: HTTPResponse
            do throws(TransportError) {
                response = try curl.perform(
                    method: "POST", url: url, headers: ["Content-Type: application/x-www-form-urlencoded"],
                    body: .bytes(Array(body.utf8)), deadline: deadline)
            } catch {
                return try transportAttempt(error, what)
            }
            switch response.status {
            case 200:
                guard let json = response.json, json["access_token"]?.string != nil else {
                    throw EntrypointError(.unavailable, "token refresh: Dropbox answered 200 without an access_token")
                }
                return .done(json)
            case 429, 500...599:
                return .retry(after: Self.retryAfter(response), reason: "HTTP \(response.status) \(Self.summary(response))")
            default:
                let code = response.json?["error"]?.string ?? ""
                let detail = Self.summary(response)
                switch code {
                case "invalid_grant":
                    throw EntrypointError(.authRejected, "Dropbox rejected DROPBOX_REFRESH_TOKEN (HTTP \(response.status) \(detail)); create a new refresh token")
                case "invalid_client":
                    throw EntrypointError(.authRejected, "Dropbox rejected DROPBOX_APP_KEY or DROPBOX_APP_SECRET (HTTP \(response.status) \(detail))")
                case "invalid_request" where r.appSecret == nil:
                    throw EntrypointError(.authRejected, "Dropbox refused the refresh without DROPBOX_APP_SECRET (HTTP \(response.status) \(detail)); this refresh token was not issued with PKCE, so set DROPBOX_APP_SECRET")
                default:
                    throw EntrypointError(.authRejected, "token refresh refused: HTTP \(response.status) \(detail)")
                }
            }
        }
        accessToken = json["access_token"]?.string
        log.addSecrets([accessToken ?? ""])
        if let seconds = json["expires_in"]?.number, seconds > 0 {
            tokenExpiry = Clock.now() + seconds
        } else {
            tokenExpiry = .infinity
        }
        refreshCount += 1
        log.debug("access token refreshed (valid for \(json["expires_in"]?.number?.clean ?? "?")s)")
    }

    /// Sends one authenticated request with retries; a 401 triggers one refresh and one retry.
    /// Returns the first response that is not retryable (any 2xx, 4xx other than 401/429).
    func send(
        _ route: String, host: String, headers: @escaping () -> [String], body: () -> RequestBody,
        sink: ((UnsafeRawBufferPointer, TransferState) -> Bool)? = nil,
        sinkError: () -> EntrypointError? = { nil },
        progress: ((Int64, Int64) -> Void)? = nil
    ) throws(EntrypointError) -> HTTPResponse {
        var refreshed = false
        let url = host + "/2/" + route
        return try withRetry(route) { (_) throws(EntrypointError) -> Attempt<HTTPResponse> in
            var response: HTTPResponse
            while true {
                let token = try ensureToken()
                do throws(TransportError) {
                    response = try curl.perform(
                        method: "POST", url: url, headers: ["Authorization: Bearer \(token)"] + headers(),
                        body: body(), deadline: deadline, sink: sink, progress: progress)
                } catch {
                    if let e = sinkError() { throw e }
                    return try transportAttempt(error, route)
                }
                guard response.status == 401 else { break }
                let reason = Self.summary(response)
                if refreshed || config.credentials.refreshCredentials == nil {
                    if config.credentials.refreshCredentials == nil {
                        throw EntrypointError(.authRejected, "Dropbox rejected DROPBOX_ACCESS_TOKEN (HTTP 401 \(reason)); access tokens expire after 4 hours: set DROPBOX_APP_KEY, DROPBOX_APP_SECRET and DROPBOX_REFRESH_TOKEN instead")
                    }
                    throw EntrypointError(.authRejected, "Dropbox rejected a freshly refreshed access token for \(route) (HTTP 401 \(reason)); check the app's permissions (files.content.read/write)")
                }
                log.info("access token rejected by \(route) (\(reason)); refreshing it")
                refreshed = true
                try refreshToken()
            }
            switch response.status {
            case 429, 500...599:
                return .retry(after: Self.retryAfter(response), reason: "HTTP \(response.status) \(Self.summary(response))")
            default:
                return .done(response)
            }
        }
    }

    /// Turns a non-success response into an error naming the route, status and Dropbox's summary.
    func failure(_ route: String, _ response: HTTPResponse) -> EntrypointError {
        let summary = Self.summary(response)
        switch response.status {
        case 400:
            return EntrypointError(.config, "Dropbox refused \(route): HTTP 400 \(summary) (check DROPBOX_DB_PATH)")
        case 403:
            return EntrypointError(.authRejected, "Dropbox refused \(route): HTTP 403 \(summary) (the app lacks permission)")
        default:
            return EntrypointError(.unavailable, "Dropbox refused \(route): HTTP \(response.status) \(summary)")
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
            throw EntrypointError(.unavailable, "files/get_metadata \(path): HTTP 409 \(summary)")
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

    // MARK: - files/download

    /// Streams revision `file.rev` into `fd` (positioned writes from 0), resuming a dropped transfer with
    /// Range from the last byte written. Returns the content hash of exactly the bytes written.
    public func download(_ file: RemoteFile, to fd: Int32, progress: Progress?) throws(EntrypointError) -> String {
        let arg = JSON.object([("path", .string("rev:" + file.rev))]).encoded(asciiOnly: true)
        // Bytes are written from curl's buffer at once, then copied into a small ring that a second
        // thread hashes (and starts writing back to disk): the write callback waits for the hasher
        // only when the ring is full.
        var hasher = PipelinedContentHasher(writeback: fd)
        var written: Int64 = 0
        var sinkFailure: EntrypointError?
        var checkedThisResponse = false
        let route = "files/download"
        let sink = { (bytes: UnsafeRawBufferPointer, state: TransferState) -> Bool in
            if !checkedThisResponse {
                checkedThisResponse = true
                let response = state.response
                if let type = response.headers["content-type"], type.lowercased().hasPrefix("text/html") {
                    sinkFailure = EntrypointError(.badRemoteData, "Dropbox answered \(route) with an HTML page (HTTP \(response.status), Content-Type \(type)) instead of the file; nothing was installed")
                    return false
                }
                if let result = response.headers["dropbox-api-result"], let json = try? JSON.parse(result),
                    let rev = json["rev"]?.string, rev != file.rev
                {
                    sinkFailure = EntrypointError(.badRemoteData, "\(route) returned rev \(rev), expected \(file.rev); nothing was installed")
                    return false
                }
                if response.status == 200 && written > 0 {
                    // The server ignored our Range: start over from byte 0.
                    written = 0
                    _ = hasher.finalize()
                    hasher = PipelinedContentHasher(writeback: fd)
                    if ftruncate(fd, 0) != 0 {
                        sinkFailure = localError("truncate", "the temporary file", errno)
                        return false
                    }
                } else if response.status == 206 {
                    let range = response.headers["content-range"] ?? ""
                    if !range.hasPrefix("bytes \(written)-") {
                        sinkFailure = EntrypointError(.unavailable, "\(route): resumed at the wrong offset (Content-Range \(range), wanted \(written))")
                        return false
                    }
                }
            }
            if UInt64(written) + UInt64(bytes.count) > file.size {
                sinkFailure = EntrypointError(.badRemoteData, "\(route) sent more than the \(file.size) bytes of rev \(file.rev); nothing was installed")
                return false
            }
            do throws(SystemError) {
                try FileIO.pwriteAll(fd, bytes, at: written)
            } catch {
                sinkFailure = localError("write", "the temporary file", error.errno)
                return false
            }
            hasher.update(bytes)
            written += Int64(bytes.count)
            return true
        }
        try withRetry(route) { (_) throws(EntrypointError) -> Attempt<Void> in
            let response = try send(
                route, host: config.contentURL,
                headers: {
                    var h = ["Dropbox-API-Arg: \(arg)", "Content-Type:"]
                    if written > 0 { h.append("Range: bytes=\(written)-") }
                    checkedThisResponse = false  // every attempt's response is checked afresh
                    return h
                },
                body: { .none }, sink: sink, sinkError: { sinkFailure },
                progress: { _, _ in progress?.update(UInt64(written)) })
            if let e = sinkFailure { throw e }
            switch response.status {
            case 200, 206:
                if UInt64(written) < file.size {
                    // The server closed a "complete" body early (or sent a short Content-Length).
                    return .retry(after: nil, reason: "the body ended after \(written) of \(file.size) bytes")
                }
                return .done(())
            case 416 where UInt64(written) == file.size:
                return .done(())
            case 409:
                let summary = Self.summary(response)
                if summary.hasPrefix("path/not_found") {
                    throw EntrypointError(.remoteMissing, "\(route): rev \(file.rev) of \(config.remotePath) no longer exists (HTTP 409 \(summary))")
                }
                throw EntrypointError(.unavailable, "\(route): HTTP 409 \(summary)")
            default:
                throw failure(route, response)
            }
        }
        progress?.finish(UInt64(written))
        return hasher.finalize()
    }
}

/// Percent-encodes every UTF-8 byte of `value` for which `keep` is false.
func percentEncode(_ value: String, keeping keep: (UInt8) -> Bool) -> String {
    let hex = Array("0123456789ABCDEF")
    var out = ""
    for b in value.utf8 {
        if keep(b) {
            out.append(Character(Unicode.Scalar(b)))
        } else {
            out += "%" + String(hex[Int(b >> 4)]) + String(hex[Int(b & 0xF)])
        }
    }
    return out
}

/// application/x-www-form-urlencoded value encoding: only unreserved characters stay.
func formEncode(_ value: String) -> String {
    percentEncode(value) { b in
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            true
        default:
            false
        }
    }
}
