// With Dropbox failing, the retries use the whole window that is left: a random
// backoff that would pass the deadline shortens the wait instead of skipping the last try.
import CCurl
import Foundation
import Testing

@testable import EntrypointCore

@Suite struct LastTryTests {
    let log = Logger(level: .debug, fd: -1)

    func client(_ transport: ScriptedTransport, deadline: Double, attempts: Int = 6) throws -> DropboxClient {
        let config = try Configuration(environment: [
            "DROPBOX_ACCESS_TOKEN": "sl.unit-test-token", "DROPBOX_DB_PATH": "/db.sqlite", "RAILWAY_DB_PATH": "/tmp/unit/db.sqlite",
            "DROPBOX_API_URL": "http://127.0.0.1:9", "DROPBOX_CONTENT_URL": "http://127.0.0.1:9",
            // Every random backoff is far beyond the deadline.
            "ENTRYPOINT_BACKOFF_BASE": "60", "ENTRYPOINT_BACKOFF_CAP": "60", "ENTRYPOINT_MAX_ATTEMPTS": String(attempts),
        ])
        return DropboxClient(config: config, log: log, curl: transport, deadline: Clock.now() + deadline)
    }

    let metadata = Array(
        #"{".tag": "file", "name": "db.sqlite", "rev": "015f00000001", "size": 0, "content_hash": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "server_modified": "2026-12-01T00:00:00Z"}"#
            .utf8)

    @Test func theWaitBeforeTheLastTryIsShortenedToFitTheWindow() {
        #expect(RetryPolicy.lastTryWait(left: 8) == 7)
        #expect(RetryPolicy.lastTryWait(left: 1) == 0.5)
        #expect(RetryPolicy.lastTryWait(left: 0.2) == 0.1)
        #expect(RetryPolicy.lastTryWait(left: 0.05) == nil)
    }

    @Test func aBackoffThatWouldPassTheDeadlineDoesNotSkipTheLastTry() throws {
        let t = ScriptedTransport([.answer(503, [:], []), .answer(200, [:], metadata)])
        let started = Clock.now()
        #expect(try client(t, deadline: 3).metadata("/db.sqlite") != nil)
        #expect(t.requests.count == 2)
        #expect(Clock.now() - started < 3, "within the window")
    }

    @Test func unreachableForTheWholeWindowTriesUntilItsEndAndNamesTheDeadline() throws {
        let t = ScriptedTransport(Array(repeating: .failure(CURLE_COULDNT_CONNECT, nil), count: 20))
        let c = try client(t, deadline: 2, attempts: 20)
        c.deadlineName = "the 2s backup deadline (ENTRYPOINT_DEADLINE)"
        let started = Clock.now()
        do {
            _ = try c.metadata("/db.sqlite")
            Issue.record("must fail")
        } catch {
            #expect(error.code == .unavailable)
            #expect(error.message.contains("the 2s backup deadline (ENTRYPOINT_DEADLINE)"), "\(error.message)")
        }
        // Tries spread over the window, the last one near its end, not one and give up. (Not "at
        // least 3": the backoff has full jitter from 0, so one in about 600 runs draws a first wait
        // within 0.1 s of the deadline, which leaves no time for a third try; CI met that once.)
        #expect(t.requests.count >= 2, "\(t.requests.count) tries")
        let last = try #require(t.requests.last).at
        #expect(c.deadline - last < 0.5, "the last try \(c.deadline - last)s before the end of the window")
        #expect(Clock.now() - started > 1.5, "used the window: \(Clock.now() - started)s")
    }
}
