// The retry loop is a function of its policy: the budget counts only attempts without progress,
// and a wait that would pass the deadline ends the loop with the deadline's name.
import Testing

@testable import EntrypointCore

@Suite struct RetryPolicyTests {
    let log = Logger(level: .debug, fd: -1)

    func policy(attempts: Int, seconds: Double) -> RetryPolicy {
        RetryPolicy(maxAttempts: attempts, backoffBase: 0.001, backoffCap: 0.002, deadline: Clock.now() + seconds, deadlineName: "the test deadline")
    }

    @Test func theBudgetCountsOnlyAttemptsWithoutProgress() throws {
        var calls = 0
        let value = try policy(attempts: 2, seconds: 10).run("op", log: log) { () throws(EntrypointError) -> Attempt<Int> in
            calls += 1
            return calls < 5 ? .retry(after: nil, reason: "bytes arrived", progressed: true) : .done(calls)
        }
        #expect(value == 5)
        calls = 0
        var failure: EntrypointError?
        do throws(EntrypointError) {
            _ = try policy(attempts: 2, seconds: 10).run("op", log: log) { () throws(EntrypointError) -> Attempt<Int> in
                calls += 1
                return .retry(after: nil, reason: "HTTP 503")
            }
            Issue.record("must fail")
        } catch {
            failure = error
        }
        #expect(failure?.code == .unavailable)
        #expect(failure?.message == "op failed after 2 attempts: HTTP 503", "\(String(describing: failure?.message))")
        #expect(calls == 2)
    }

    @Test func aRetryAfterPastTheDeadlineEndsTheLoopNamingTheDeadline() throws {
        var calls = 0
        var failure: EntrypointError?
        do throws(EntrypointError) {
            _ = try policy(attempts: 6, seconds: 1).run("op", log: log) { () throws(EntrypointError) -> Attempt<Int> in
                calls += 1
                return .retry(after: 30, reason: "HTTP 429")
            }
            Issue.record("must fail")
        } catch {
            failure = error
        }
        #expect(failure?.cause == .deadline)
        #expect(failure?.message.contains("would pass the test deadline") == true, "\(String(describing: failure?.message))")
        #expect(calls == 1, "the server's Retry-After is kept, so no try fits")
    }
}
