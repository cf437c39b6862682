// What the retry loop (RetryPolicy.swift) is fed: the classification of HTTP answers and transport
// errors, Retry-After, and error summaries of Dropbox responses.
import CCurl
import CShims
import Glibc

extension DropboxClient {

    /// The retry loop of this client's policy (RetryPolicy.swift) for one operation.
    func withRetry<T>(_ what: String, _ body: () throws(EntrypointError) -> Attempt<T>) throws(EntrypointError) -> T {
        try retry.run(what, log: log, body)
    }

    /// The one classifier of HTTP answers, used by every request: statuses worth another try
    /// (408 Request Timeout, 425 Too Early, 429 Too Many Requests, any 5xx) become `.retry` with the
    /// server's Retry-After; everything else is the caller's to interpret.
    static func classify(_ response: HTTPResponse) -> Attempt<HTTPResponse> {
        guard isRetryable(status: response.status) else { return .done(response) }
        if DropboxRefusal.of(response) == .writeContention {
            return .retry(after: retryAfter(response), reason: "HTTP \(response.status) \(DropboxRefusal.contentionReason)")
        }
        return .retry(after: retryAfter(response), reason: "HTTP \(response.status) \(summary(response))")
    }

    static func isRetryable(status: Int) -> Bool {
        switch status {
        case 408, 425, 429, 500...599: true
        default: false
        }
    }

    func checkSignal() throws(EntrypointError) { try RetryPolicy.checkSignal() }

    func deadlineError(_ what: String) -> EntrypointError {
        EntrypointError(.unavailable, "\(what): \(deadlineName) was reached", cause: .deadline)
    }

    /// RetryPolicy.minimumTryTime, where the stop deadline's tolerance reads it.
    static var minimumTryTime: Double { RetryPolicy.minimumTryTime }

    /// Classifies a transport failure: signal and deadline stop, connection errors retry.
    func transportAttempt<T>(_ error: TransportError, _ what: String) throws(EntrypointError) -> Attempt<T> {
        try checkSignal()
        switch error.abort {
        case .signal(let sig): throw EntrypointError(signal: sig)
        case .deadline: throw deadlineError(what)
        case .gaveWay: throw EntrypointError(.localIO, "\(what): stopped to give way", cause: .gaveWay)
        case nil: if Clock.now() >= deadline { throw deadlineError(what) }
        }
        if error.refusedOption != nil {
            throw EntrypointError(.software, "\(what): \(error.message)", cause: .curl(code: Int32(error.code.rawValue), option: error.refusedOption))
        }
        if error.code == CURLE_PEER_FAILED_VERIFICATION || error.code == CURLE_SSL_CACERT_BADFILE {
            throw EntrypointError(
                .unavailable, "\(what): TLS certificate verification failed: \(error.message) (check SSL_CERT_FILE / the CA bundle)",
                cause: .curl(code: Int32(error.code.rawValue), option: nil))
        }
        if error.isRetryable { return .retry(after: nil, reason: "\(error.message) (curl \(error.code.rawValue))") }
        throw EntrypointError(
            .unavailable, "\(what): \(error.message) (curl \(error.code.rawValue))", cause: .curl(code: Int32(error.code.rawValue), option: nil))
    }

    /// Seconds to wait from a 429/503: the Retry-After header (seconds, or an HTTP date, RFC 9110
    /// section 10.2.3) or the JSON `retry_after`. `now` is the wall clock in seconds since the epoch.
    static func retryAfter(_ response: HTTPResponse, now: Double = wallClock()) -> Double? {
        if let header = response.headers["retry-after"]?.trimmingWhitespace() {
            if let seconds = Double(header), seconds.isFinite { return max(0, seconds) }
            if let date = httpDate(header) { return max(0, Double(date) - now) }
        }
        if let json = response.json, let seconds = json["error"]?["retry_after"]?.number ?? json["retry_after"]?.number {
            return max(0, seconds)
        }
        return nil
    }

    /// The wall clock (CLOCK_REALTIME) in seconds since the epoch, for HTTP dates.
    static func wallClock() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Seconds since the epoch of an IMF-fixdate (`Wed, 21 Oct 2026 07:28:00 GMT`, RFC 9110 section
    /// 5.6.7), or nil. Computed with timegm from the fields; the weekday is not checked.
    static func httpDate(_ text: String) -> Int? {
        let fields = text.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count == 6, fields[0].hasSuffix(","), fields[5] == "GMT",
            fields[1].count == 2, let day = Int(fields[1]), (1...31).contains(day),
            let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"].firstIndex(of: String(fields[2])),
            fields[3].count == 4, let year = Int(fields[3]), year >= 1970
        else { return nil }
        let clock = fields[4].split(separator: ":", omittingEmptySubsequences: false)
        guard clock.count == 3, clock.allSatisfy({ $0.count == 2 }),
            let hour = Int(clock[0]), let minute = Int(clock[1]), let second = Int(clock[2]),
            (0...23).contains(hour), (0...59).contains(minute), (0...60).contains(second)
        else { return nil }
        var t = tm()
        t.tm_year = Int32(year - 1900)
        t.tm_mon = Int32(month)
        t.tm_mday = Int32(day)
        t.tm_hour = Int32(hour)
        t.tm_min = Int32(minute)
        t.tm_sec = Int32(second)
        let seconds = timegm(&t)
        guard seconds != -1 else { return nil }
        return Int(seconds)
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
}
