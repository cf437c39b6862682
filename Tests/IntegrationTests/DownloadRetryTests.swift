// Downloads retried: one retry loop per operation (never one inside another), and a bad download (a
// corrupted byte, an HTML page with 200, a link that drops) retried until it is good or the budget ends.
import Foundation
import TestSupport
import Testing

@Suite struct DownloadRetryTests {
    @Test func oneCorruptedByteOnceThenGoodIsRestored() throws {
        let w = try World()
        let source = try w.publish(["good"], padding: 100_000)
        try w.fake.fault(["route": "files/download", "kind": "corrupt_byte", "offset": 50_000, "times": 1])
        let r = try run([], env: w.env(fast))
        #expect(r.status == 0, "\(r.output)")
        #expect(bytes(w.db) == bytes(source))
        #expect(w.fake.requests("files/download").count == 2)
        // One line per refusal, naming what was refused.
        #expect(countLines(r.stderr, containing: "refused the download") == 1, "\(r.stderr)")
        #expect(r.stderr.contains("content hash"), "\(r.stderr)")
        #expect(w.leftovers().isEmpty, "\(w.leftovers())")
    }

    @Test func htmlPageWith200OnceThenGoodIsRestored() throws {
        let w = try World()
        let source = try w.publish(["good"])
        try w.fake.fault(["route": "files/download", "kind": "html", "times": 1])
        let r = try run([], env: w.env(fast))
        #expect(r.status == 0, "\(r.output)")
        #expect(bytes(w.db) == bytes(source))
        #expect(countLines(r.stderr, containing: "refused the download") == 1, "\(r.stderr)")
        #expect(r.stderr.contains("HTML page"))
    }

    @Test func corruptedAlwaysExits65AfterTheBudget() throws {
        let w = try World()
        try w.publish(["never"], padding: 100_000)
        try w.fake.fault(["route": "files/download", "kind": "corrupt_byte", "offset": 1_000, "times": -1])
        let r = try run([], env: w.env(fast.merging(["ENTRYPOINT_MAX_ATTEMPTS": "3"]) { _, b in b }))
        #expect(r.status == 65, "\(r.output)")
        #expect(w.fake.requests("files/download").count == 3)
        #expect(countLines(r.stderr, containing: "refused the download") == 2, "\(r.stderr)")
        #expect(r.stderr.contains("does not match Dropbox's"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: w.db))
        #expect(w.leftovers().isEmpty, "\(w.leftovers())")
    }

    @Test func linkThatDropsEveryFewBytesStillCompletes() throws {
        let w = try World()
        let source = try w.publish(["drops"], padding: 3_000_000)
        // Every response is cut after 400 kB: about 8 attempts, more than ENTRYPOINT_MAX_ATTEMPTS=3, but
        // each one made progress.
        try w.fake.fault(["route": "files/download", "kind": "drop_after", "bytes": 400_000, "times": -1])
        let r = try run([], env: w.env(fast.merging(["ENTRYPOINT_MAX_ATTEMPTS": "3"]) { _, b in b }))
        #expect(r.status == 0, "\(r.output)")
        #expect(bytes(w.db) == bytes(source))
        #expect(w.fake.requests("files/download").count > 3)
        #expect(r.stderr.contains("made progress"), "\(r.stderr)")
    }

    @Test func onePersistentFailureIsRetriedByOneLoopOnly() throws {
        let w = try World()
        try w.publish(["x"])
        // Two 503s, then bodies that end at once (200 with Content-Length 0): no attempt makes progress.
        try w.fake.fault(["route": "files/download", "kind": "status", "status": 503, "times": 2])
        try w.fake.fault(["route": "files/download", "kind": "truncate", "bytes": 0, "times": -1])
        let r = try run([], env: w.env(fast.merging(["ENTRYPOINT_MAX_ATTEMPTS": "3", "ENTRYPOINT_ON_UNAVAILABLE": "fail"]) { _, b in b }))
        #expect(r.status == 69, "\(r.output)")
        // ENTRYPOINT_MAX_ATTEMPTS requests in all, not a fresh budget for the 503s inside each attempt
        // of the download (a retry loop inside a retry loop).
        #expect(w.fake.requests("files/download").count == 3)
        #expect(r.stderr.contains("files/download failed after 3 attempts"), "\(r.stderr)")
    }

    @Test func requestTimeoutAndTooEarlyAreRetried() throws {
        let w = try World()
        let source = try w.publish(["x"])
        try w.fake.fault(["route": "files/get_metadata", "kind": "status", "status": 408])
        try w.fake.fault(["route": "files/download", "kind": "status", "status": 425])
        let r = try run([], env: w.env(fast))
        #expect(r.status == 0, "\(r.output)")
        #expect(bytes(w.db) == bytes(source))
        #expect(w.fake.requests("files/get_metadata").map { $0["status"] as? Int } == [408, 200])
    }

    @Test func retryAfterAsAnHTTPDateIsHonoured() throws {
        let w = try World()
        try w.publish(["x"])
        // A date two seconds ahead (whole seconds: the wait is between 1 and 2 s).
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let date = formatter.string(from: Date().addingTimeInterval(2))
        try w.fake.fault(["route": "files/get_metadata", "kind": "status", "status": 503, "headers": ["Retry-After": date]])
        let r = try run([], env: w.env(fast))
        #expect(r.status == 0, "\(r.output)")
        let times = w.fake.requests("files/get_metadata").compactMap { $0["t"] as? Double }
        #expect(times.count == 2)
        #expect(times.count == 2 && times[1] - times[0] >= 0.9, "waited for the Retry-After date \(date): \(times)")
    }
}
