// The retry loop: capped exponential backoff with full jitter, Retry-After, the attempt budget and
// the deadline; the classification of transport errors; error summaries of Dropbox responses.
import CCurl
import CShims
import Glibc

/// Result of one attempt inside the retry loop.
enum Attempt<T> {
    case done(T)
    case retry(after: Double?, reason: String)
}

extension DropboxClient {

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
}
