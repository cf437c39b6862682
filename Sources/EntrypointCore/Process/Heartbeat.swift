// ENTRYPOINT_HEARTBEAT_URL: after every successful periodic or stop backup (and every interval at
// which the database is unchanged since the last one) a GET of the URL; after a failed one a POST
// of the same URL with /fail appended and the failure's line as the body (healthchecks.io's
// convention: https://healthchecks.io/docs/signaling_failures/; a plain webhook gets the same two
// requests). The URL is a secret: it is never logged (the logger redacts it, and no line here
// names it). A heartbeat that cannot be delivered is one debug line and changes nothing else.
import CShims
import Glibc

enum Heartbeat {
    /// Seconds for one heartbeat request, connection included.
    static let timeout = 5.0

    /// The request for an outcome: GET `url`, or POST `url/fail` with the reason.
    static func request(url: String, failure: String?) -> (method: String, url: String, body: RequestBody, headers: [String]) {
        guard let failure else { return ("GET", url, .none, []) }
        return ("POST", url + "/fail", .bytes(Array((failure + "\n").utf8)), ["Content-Type: text/plain; charset=utf-8"])
    }

    /// Sends it now and waits at most `timeout` seconds. Returns whether it was delivered (a 2xx).
    @discardableResult
    static func send(url: String, failure: String?, environment: [String: String], timeout: Double, log: Logger) -> Bool {
        let what = failure == nil ? "success" : "failure"
        let curl: Curl
        do throws(EntrypointError) {
            curl = try Curl(caSource: try CASource.resolve(environment: environment), connectTimeout: timeout, stallTimeout: timeout)
        } catch {
            log.debug("heartbeat (\(what)) not sent: \(error.message)")
            return false
        }
        let r = request(url: url, failure: failure)
        do throws(TransportError) {
            let response = try curl.perform(method: r.method, url: r.url, headers: r.headers, body: r.body, deadline: Clock.now() + timeout)
            guard (200..<300).contains(response.status) else {
                log.debug("heartbeat (\(what)) not delivered: HTTP \(response.status)")
                return false
            }
            log.debug("heartbeat (\(what)) delivered")
            return true
        } catch {
            log.debug("heartbeat (\(what)) not delivered: \(error.message)")
            return false
        }
    }

    /// Sends it from a forked child, so that the supervisor's loop never waits for the network
    /// (the supervisor reaps the child like any other). The process is single-threaded here.
    static func sendInBackground(url: String, failure: String?, environment: [String: String], log: Logger) {
        fflush(nil)
        let pid = fork()
        if pid < 0 {
            log.debug("heartbeat not sent: fork failed: \(errnoText(errno))")
            return
        }
        guard pid == 0 else { return }
        // The child: the supervisor's blocked signals stay blocked; the timeout bounds its life.
        send(url: url, failure: failure, environment: environment, timeout: timeout, log: log)
        fflush(nil)
        _exit(0)
    }

    /// A few words for an exit status of a backup worker (docs/exit-codes.md), for the /fail body.
    static func meaning(_ status: Int32) -> String {
        switch status {
        case 65: "Dropbox reported a different file after the upload, or the snapshot failed verification"
        case 69: "Dropbox unavailable"
        case 70: "internal error"
        case 74: "local file system, or the database locked or damaged"
        case 76: "refused: Dropbox's file changed"
        case 77: "Dropbox rejected the credentials"
        case 78: "configuration"
        case 129...: "killed by \(Signals.name(status - 128))"
        default: "exit \(status)"
        }
    }
}

extension Supervisor {
    /// The heartbeat hook: the supervisor knows every backup's outcome (a worker killed at the stop
    /// deadline or by the OOM killer, or one that could not start, cannot report itself). A periodic
    /// one goes out from a forked child; the stop backup's here, since the supervisor exits next,
    /// bounded by the stop deadline plus a second.
    func heartbeat(final: Bool, failure: String?, status: Int32? = nil) {
        guard let url = config.heartbeatURL else { return }
        let body = failure.map { line in status.map { "\(line) [exit \($0): \(Heartbeat.meaning($0))]" } ?? line }
        if final {
            let left = (stopSignalAt ?? childExitedAt) + config.stopDeadline + 1 - Clock.now()
            Heartbeat.send(url: url, failure: body, environment: environment, timeout: min(Heartbeat.timeout, max(1, left)), log: log)
        } else {
            Heartbeat.sendInBackground(url: url, failure: body, environment: environment, log: log)
        }
    }
}
