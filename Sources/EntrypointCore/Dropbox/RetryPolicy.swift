// The retry policy a DropboxClient is given: the attempt budget, the backoff (capped exponential
// with full jitter), the deadline and the name the lines give it; and the one retry loop, a
// function of that policy.
import CShims
import Glibc

/// Result of one attempt inside the retry loop.
enum Attempt<T> {
    case done(T)
    /// Try again. `progressed`: this attempt moved the operation forward (bytes arrived or were
    /// accepted), so it does not use up the attempt budget. `failure`: the error to report when the
    /// budget or the deadline ends the retries (default: "Dropbox unavailable", exit 69).
    case retry(after: Double?, reason: String, progressed: Bool = false, failure: EntrypointError? = nil)
}

struct RetryPolicy {
    /// ENTRYPOINT_MAX_ATTEMPTS: attempts without progress before giving up.
    var maxAttempts: Int
    /// ENTRYPOINT_BACKOFF_BASE and ENTRYPOINT_BACKOFF_CAP, in seconds.
    var backoffBase: Double
    var backoffCap: Double
    /// Monotonic time (Clock.now) after which nothing more is attempted.
    var deadline: Double
    /// The deadline as the lines name it: the restore's by default; `--backup` sets its own.
    var deadlineName: String

    init(maxAttempts: Int, backoffBase: Double, backoffCap: Double, deadline: Double, deadlineName: String) {
        self.maxAttempts = maxAttempts
        self.backoffBase = backoffBase
        self.backoffCap = backoffCap
        self.deadline = deadline
        self.deadlineName = deadlineName
    }

    /// The configured budget and backoff, with `deadline`; named as the restore's deadline unless
    /// `deadlineName` says otherwise.
    init(config: Configuration, deadline: Double, deadlineName: String? = nil) {
        self.init(
            maxAttempts: config.maxAttempts, backoffBase: config.backoffBase, backoffCap: config.backoffCap,
            deadline: deadline, deadlineName: deadlineName ?? Deadline.restore(config).description)
    }

    /// Below this many seconds before the deadline no further try is started: a retry loop that
    /// gives up for its deadline ends at most this long before it.
    static let minimumTryTime = 0.1

    /// The wait before a last try when the backoff would pass the deadline, `left` seconds away:
    /// the try keeps half of what is left (at most 1 s) for itself. Nil when too little is left for
    /// any try (under `minimumTryTime`).
    static func lastTryWait(left: Double) -> Double? {
        guard left >= minimumTryTime else { return nil }
        return max(0, left - min(1, left / 2))
    }

    /// The random backoff before the next try after `streak` attempts in a row without progress.
    func backoff(streak: Int) -> Double {
        Double.random(in: 0...min(backoffCap, backoffBase * Double(1 << min(max(streak, 1) - 1, 20))))
    }

    /// Runs `body` until it is done, retrying with capped exponential backoff and full jitter,
    /// honouring the server's Retry-After, within the attempt budget and the deadline.
    /// The budget counts attempts that made no progress; an attempt that made progress resets the
    /// backoff and is not counted. The deadline bounds everything. There is exactly one such loop
    /// per operation: `body` performs one request (or one attempt at a multi-request step) and
    /// never retries by itself. A pending stop signal ends the loop before each try and each wait.
    func run<T>(_ what: String, log: Logger, _ body: () throws(EntrypointError) -> Attempt<T>) throws(EntrypointError) -> T {
        var attempt = 0
        var wasted = 0  // attempts without progress: the budget
        var streak = 0  // consecutive attempts without progress: the backoff exponent
        while true {
            attempt += 1
            try Self.checkSignal()
            let (after, reason, progressed, failure): (Double?, String, Bool, EntrypointError?)
            switch try body() {
            case .done(let value): return value
            case .retry(let a, let r, let p, let f): (after, reason, progressed, failure) = (a, r, p, f)
            }
            if progressed {
                streak = 0
            } else {
                wasted += 1
                streak += 1
            }
            if wasted >= maxAttempts {
                if let failure { throw failure }
                let counted = attempt == wasted ? "" : " (\(wasted) of them without progress)"
                throw EntrypointError(.unavailable, "\(what) failed after \(attempt) attempts\(counted): \(reason)")
            }
            var delay = backoff(streak: streak)
            if let after { delay = max(delay, after) }
            let left = deadline - Clock.now()
            if delay >= left {
                // A random backoff that would overshoot does not cost the last try: the wait is
                // shortened so the try still has time (Retry-After is the server's and is kept).
                let shortened = after == nil ? Self.lastTryWait(left: left) : nil
                guard let shortened else {
                    if let failure { throw failure }
                    throw EntrypointError(
                        .unavailable,
                        "\(what) failed: \(reason); the next try (in \(delay.clean)s) would pass \(deadlineName)", cause: .deadline)
                }
                delay = shortened
            }
            let budget =
                progressed
                ? "attempt \(attempt + 1); the last one made progress and does not count against ENTRYPOINT_MAX_ATTEMPTS=\(maxAttempts)"
                : "attempt \(attempt + 1), \(wasted) of \(maxAttempts) without progress used"
            log.warning("\(what): \(reason); retrying in \(delay.clean)s (\(budget))")
            if !Clock.sleep(delay) { try Self.checkSignal() }
        }
    }

    /// Throws the signal's error when a stop signal is pending.
    static func checkSignal() throws(EntrypointError) { try Signals.throwIfPending() }
}
