// A cold start's pre-connect: while the token request and files/get_metadata are in flight on the
// API host, a second libcurl handle on its own thread opens the TCP+TLS connection to the content
// host with one small, harmless request; the download then runs on that handle and reuses the
// connection (docs/design.md, "Pre-connect to the content host").
import CShims
import Glibc

/// One ranged `files/download` (`Range: bytes=0-0`, authorized only when the token is at hand) on
/// its own handle and thread. Its answer is discarded and never decides anything; `handOver(to:)`
/// gives its handle to the download when it is done, `finish()` (and deinit, on every error path)
/// stops and joins it.
///
/// Why a second handle and not a shared connection cache: libcurl documents sharing connections
/// (CURL_LOCK_DATA_CONNECT) between concurrent threads as unsupported (CURLSHOPT_SHARE(3), the
/// known bug "A shared connection cache is not thread-safe"), while it allows passing a handle
/// from one thread to another when only one uses it at a time (libcurl-thread(3)).
final class ContentPreconnect {
    private let job: Job
    private let log: Logger
    private let origin: String
    private var thread: PosixThread?
    private var joined = false

    final class Job: @unchecked Sendable {
        let curl: Curl
        let url: String
        let headers: [String]
        let deadline: Double
        /// Set by the main thread: the warm-up stops at its next progress callback.
        let cancel = HashCancel()
        /// Set by the warm-up thread when its request is over (answered or failed).
        let done = HashCancel()
        /// Written by the warm-up thread before `done`; read after the join.
        var status: Int?
        var failure: String?

        init(curl: Curl, url: String, headers: [String], deadline: Double) {
            self.curl = curl
            self.url = url
            self.headers = headers
            self.deadline = deadline
        }

        func run() {
            var received = 0
            do throws(TransportError) {
                let response = try curl.perform(
                    method: "POST", url: url, headers: headers, body: .none, deadline: deadline,
                    sink: { bytes, _ in
                        // One byte was asked for; a server that ignores Range is cut off here.
                        received += bytes.count
                        return received <= ContentPreconnect.bodyCap
                    }, progress: nil)
                status = response.status
            } catch {
                failure = "\(error.message) (curl \(error.code.rawValue))"
            }
            done.set()
        }
    }

    /// Bytes of a 2xx body the warm-up accepts before it aborts (it asks for one).
    static let bodyCap = 64 * 1024
    /// Seconds past the connect timeout the warm-up may take in all.
    static let slack = 3.0
    /// Seconds the download waits for a warm-up still in flight before it opens its own connection.
    static let handOverWait = 1.0

    /// The scheme, host and port of a base URL (the default port filled in), or nil.
    static func origin(_ url: String) -> String? {
        guard case .success(let u) = Configuration.parseBaseURL(url) else { return nil }
        return "\(u.scheme)://\(u.host.lowercased()):\(u.port ?? (u.scheme == "https" ? 443 : 80))"
    }

    /// Starts the warm-up when DROPBOX_API_URL and DROPBOX_CONTENT_URL name different origins;
    /// nil otherwise (one origin: the download reuses the metadata call's connection anyway), or
    /// when no second handle or thread can be had (one debug line). It sends no request of its own
    /// first and waits for none: the connection needs no token. When the token and the path root
    /// are at hand (DROPBOX_ACCESS_TOKEN without DROPBOX_ROOT_NAMESPACE=auto), the warm-up is the
    /// authorized, ranged files/download of DROPBOX_DB_PATH; otherwise (a refresh token: the
    /// token request is still to come) it goes without a token, and Dropbox refuses it with a 400
    /// on the connection the download then uses.
    static func start(client: DropboxClient, config: Configuration, log: Logger, deadline: Double) -> ContentPreconnect? {
        guard let content = origin(config.contentURL), content != origin(config.apiURL) else { return nil }
        let made: Curl?
        do throws(EntrypointError) {
            made = try client.makeContentHandle()
        } catch {
            log.debug("no pre-connect to \(content): \(error.message)")
            return nil
        }
        guard let curl = made else { return nil }
        var headers = ["Content-Type:", "Range: bytes=0-0"]
        if let token = client.tokenAtHand, config.rootNamespace != .auto || client.pathRoot != nil {
            let arg = JSON.object([("path", .string(config.remotePath))]).encoded(asciiOnly: true)
            headers = ["Authorization: Bearer \(token)", "Dropbox-API-Arg: \(arg)"] + headers + client.pathRootHeaders()
        }
        let job = Job(
            curl: curl, url: config.contentURL + "/2/files/download", headers: headers,
            deadline: min(deadline, Clock.now() + config.connectTimeout + slack))
        let cancel = job.cancel
        curl.cancelled = { cancel.isSet }
        return ContentPreconnect(job: job, log: log, origin: content)
    }

    private init?(job: Job, log: Logger, origin: String) {
        self.job = job
        self.log = log
        self.origin = origin
        do throws(SystemError) {
            thread = try PosixThread.start {
                // A stop signal goes to the main thread, whose poll it interrupts at once, as before the
                // warm-up; this thread still sees it (Signals.pending) within about a second.
                bestEffort("unblocked, a stop signal is still seen: by this thread's next progress callback", Signals.blockStopOnThisThread())
                job.run()
            }
        } catch {
            log.debug("no pre-connect to \(origin): \(error.message)")
            return nil
        }
    }

    deinit { finish() }

    /// At the download's start: a warm-up that got an answer gives its handle (and so its open
    /// connection) to `client` for the content host. One still in flight is waited for up to
    /// `handOverWait`: it started before the token request and get_metadata, so it is at most its
    /// own request's round trip from done, less than the handshake a new connection would need.
    /// After that, or on a stop signal, it is cancelled and the download opens its own connection
    /// on the usual handle. One debug line either way.
    func handOver(to client: DropboxClient) {
        guard !joined else { return }
        let until = Clock.now() + Self.handOverWait
        while !job.done.isSet && Clock.now() < until && Signals.pending == 0 {
            var ts = timespec(tv_sec: 0, tv_nsec: 1_000_000)
            bestEffort("a poll interval; EINTR only ends it early", nanosleep(&ts, nil))
        }
        guard job.done.isSet else {
            // Not joined here: that could take a second; `finish()` joins it later.
            job.cancel.set()
            log.debug("pre-connect to \(origin) still in flight; the download opens its own connection")
            return
        }
        join()  // the request is over: the thread is ending or has ended
        if let status = job.status {
            log.debug("pre-connect to \(origin) answered HTTP \(status); the download takes over its handle and connection")
            job.curl.cancelled = nil  // from now on the download's handle, on this thread
            client.adoptContentConnection(job.curl)
        } else {
            log.debug("pre-connect to \(origin) failed: \(job.failure ?? "?"); the download opens its own connection")
        }
    }

    /// Stops the warm-up (at its next progress callback, within about a second) and joins it.
    func finish() {
        guard !joined else { return }
        job.cancel.set()
        join()
    }

    private func join() {
        guard !joined else { return }
        thread?.join()
        thread = nil
        joined = true
    }
}
