// DropboxClient's retry loop, 401 refresh, 409 handling, Retry-After and download verification,
// against a scripted Transport (no network, no TLS).
import CCurl
import Foundation
import Glibc
import Testing

@testable import EntrypointCore

/// Answers requests from a script, in order, and records what was asked.
final class ScriptedTransport: Transport {
    enum Step {
        /// An answer: status, headers (lower-case names), body. A 2xx body goes to the sink when there is one.
        case answer(Int, [String: String], [UInt8])
        /// `bytes` delivered (to the sink) with a 200/206 status, then the connection breaks.
        case partial(Int, [String: String], [UInt8])
        /// A transport failure with no response.
        case failure(CURLcode, TransferAbort?)
    }

    var script: [Step]
    private(set) var requests: [(url: String, headers: [String], at: Double)] = []

    init(_ script: [Step]) { self.script = script }

    func perform(
        method: String, url: String, headers: [String], body: RequestBody, deadline: Double,
        sink: ((UnsafeRawBufferPointer, TransferState) -> Bool)?, progress: ((Int64, Int64) -> Void)?
    ) throws(TransportError) -> HTTPResponse {
        requests.append((url, headers, Clock.now()))
        guard !script.isEmpty else { throw TransportError(code: CURLE_COULDNT_CONNECT, message: "script ended") }
        let step = script.removeFirst()
        let state = TransferState()
        func deliver(_ status: Int, _ h: [String: String], _ bytes: [UInt8]) -> Bool {
            state.response = HTTPResponse(status: status, headers: h)
            guard let sink, (200..<300).contains(status) else {
                state.response.body = bytes
                return true
            }
            return bytes.withUnsafeBytes { sink($0, state) }
        }
        switch step {
        case .answer(let status, let h, let bytes):
            if !deliver(status, h, bytes) { throw TransportError(code: CURLE_WRITE_ERROR, message: "Failure writing output") }
            return state.response
        case .partial(let status, let h, let bytes):
            if !deliver(status, h, bytes) { throw TransportError(code: CURLE_WRITE_ERROR, message: "Failure writing output") }
            throw TransportError(code: CURLE_PARTIAL_FILE, message: "transfer closed with bytes remaining to read")
        case .failure(let code, let abort):
            throw TransportError(code: code, message: "scripted curl \(code.rawValue)", abort: abort)
        }
    }
}

private func json(_ text: String) -> [UInt8] { Array(text.utf8) }

private func hash(_ bytes: [UInt8]) -> String {
    let h = ContentHasher()
    h.update(bytes)
    return h.finalize()
}

@Suite struct RetryTests {
    let log = Logger(level: .debug, fd: -1)

    func client(_ transport: ScriptedTransport, _ extra: [String: String] = [:], deadline: Double = 60) throws -> DropboxClient {
        var env = [
            "DROPBOX_ACCESS_TOKEN": "sl.unit-test-token", "DROPBOX_DB_PATH": "/db.sqlite", "RAILWAY_DB_PATH": "/tmp/unit/db.sqlite",
            "DROPBOX_API_URL": "http://127.0.0.1:9", "DROPBOX_CONTENT_URL": "http://127.0.0.1:9",
            "ENTRYPOINT_BACKOFF_BASE": "0.01", "ENTRYPOINT_BACKOFF_CAP": "0.02", "ENTRYPOINT_MAX_ATTEMPTS": "3",
        ]
        env.merge(extra) { _, b in b }
        let config = try Configuration(environment: env)
        return DropboxClient(config: config, log: log, curl: transport, deadline: Clock.now() + deadline)
    }

    let metadata = json(
        #"{".tag": "file", "name": "db.sqlite", "rev": "015f00000001", "size": 3, "content_hash": "\#(hash([1, 2, 3]))", "server_modified": "2026-12-01T00:00:00Z"}"#
    )

    @Test func retryableStatusesThenSuccess() throws {
        let t = ScriptedTransport([.answer(503, [:], json("busy")), .answer(408, [:], []), .answer(200, [:], metadata)])
        let file = try #require(try client(t).metadata("/db.sqlite"))
        #expect(file.rev == "015f00000001")
        #expect(t.requests.count == 3)
        #expect(log.captured.filter { $0.contains("retrying in") }.count == 2)
    }

    @Test func theBudgetEndsPersistentFailures() throws {
        let t = ScriptedTransport(Array(repeating: .answer(500, [:], json("oops")), count: 10))
        #expect(throws: EntrypointError.self) { try client(t).metadata("/db.sqlite") }
        #expect(t.requests.count == 3)
        do {
            _ = try client(ScriptedTransport(Array(repeating: .failure(CURLE_RECV_ERROR, nil), count: 10))).metadata("/x")
            Issue.record("must fail")
        } catch let error as EntrypointError {
            #expect(error.code == .unavailable)
            #expect(error.message.contains("failed after 3 attempts"), "\(error.message)")
        }
    }

    @Test func notFoundIsAnAnswerNotARetry() throws {
        let t = ScriptedTransport([.answer(409, [:], json(#"{"error_summary": "path/not_found/..", "error": {".tag": "path"}}"#))])
        #expect(try client(t).metadata("/db.sqlite") == nil)
        #expect(t.requests.count == 1)
    }

    @Test func unauthorizedRefreshesOnceThenResends() throws {
        let refresh = ["DROPBOX_APP_KEY": "k", "DROPBOX_APP_SECRET": "s", "DROPBOX_REFRESH_TOKEN": "r"]
        let expired = json(#"{"error_summary": "expired_access_token/..", "error": {".tag": "expired_access_token"}}"#)
        let t = ScriptedTransport([
            .answer(401, [:], expired), .answer(200, [:], json(#"{"access_token": "sl.fresh", "expires_in": 14400}"#)),
            .answer(200, [:], metadata),
        ])
        let c = try client(t, refresh)
        #expect(try c.metadata("/db.sqlite") != nil)
        #expect(t.requests.map { $0.url.hasSuffix("/oauth2/token") } == [false, true, false])
        #expect(t.requests.last?.headers.contains("Authorization: Bearer sl.fresh") == true)
        // A second 401 for the same operation is not refreshed again: exit 77.
        let t2 = ScriptedTransport([
            .answer(401, [:], expired), .answer(200, [:], json(#"{"access_token": "sl.fresh2"}"#)), .answer(401, [:], expired),
        ])
        do {
            _ = try client(t2, refresh).metadata("/db.sqlite")
            Issue.record("must fail")
        } catch let error as EntrypointError {
            #expect(error.code == .authRejected)
        }
        #expect(t2.requests.count == 3)
    }

    @Test func retryAfterIsHonouredAndADeadlineItWouldPassFailsAtOnce() throws {
        let t = ScriptedTransport([.answer(429, ["retry-after": "1"], json("slow down")), .answer(200, [:], metadata)])
        #expect(try client(t).metadata("/db.sqlite") != nil)
        #expect(t.requests[1].at - t.requests[0].at >= 0.9)
        let late = ScriptedTransport([.answer(503, ["retry-after": "120"], []), .answer(200, [:], metadata)])
        do {
            _ = try client(late, deadline: 5).metadata("/db.sqlite")
            Issue.record("must fail")
        } catch let error as EntrypointError {
            #expect(error.message.contains("ENTRYPOINT_DEADLINE"), "\(error.message)")
        }
        #expect(late.requests.count == 1)
    }

    @Test func theDeadlineIsATypedValue() throws {
        let t = ScriptedTransport([.failure(CURLE_ABORTED_BY_CALLBACK, .deadline), .answer(200, [:], metadata)])
        do {
            _ = try client(t).metadata("/db.sqlite")
            Issue.record("must fail")
        } catch let error as EntrypointError {
            #expect(error.message.contains("deadline (ENTRYPOINT_DEADLINE) was reached"), "\(error.message)")
        }
        #expect(t.requests.count == 1)
    }

    func downloadFile(_ content: [UInt8]) throws -> RemoteFile {
        try #require(RemoteFile(try JSON.parse(#"{".tag": "file", "rev": "015f00000001", "size": \#(content.count), "content_hash": "\#(hash(content))"}"#)))
    }

    func temporaryFile() throws -> Int32 {
        var template = Array("/tmp/retry-test-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        try #require(fd >= 0)
        unlink(String(cString: template))
        return fd
    }

    @Test func downloadAttemptsThatMadeProgressDoNotUseTheBudget() throws {
        let content = (0..<1000).map { UInt8($0 % 251) }
        let file = try downloadFile(content)
        var script: [ScriptedTransport.Step] = [.partial(200, [:], Array(content[0..<100]))]
        for start in stride(from: 100, to: 900, by: 100) {
            script.append(.partial(206, ["content-range": "bytes \(start)-999/1000"], Array(content[start..<start + 100])))
        }
        script.append(.answer(206, ["content-range": "bytes 900-999/1000"], Array(content[900...])))
        let t = ScriptedTransport(script)
        let fd = try temporaryFile()
        defer { close(fd) }
        // Ten attempts with ENTRYPOINT_MAX_ATTEMPTS=3: each one brought bytes.
        #expect(try client(t).downloadHashes(file, to: fd, progress: nil).content == file.contentHash)
        #expect(t.requests.count == 10)
        #expect(t.requests[5].headers.contains("Range: bytes=500-"))
    }

    @Test func aBadDownloadIsRefusedAndStartedAgain() throws {
        let content = Array("the real database".utf8)
        let file = try downloadFile(content)
        var bad = content
        bad[3] ^= 0xFF
        let t = ScriptedTransport([
            .answer(200, ["content-type": "text/html"], json("<html>error</html>")),
            .answer(200, [:], bad),
            .answer(200, [:], content),
        ])
        let fd = try temporaryFile()
        defer { close(fd) }
        #expect(try client(t).downloadHashes(file, to: fd, progress: nil).content == file.contentHash)
        #expect(t.requests.count == 3)
        #expect(t.requests.allSatisfy { !$0.headers.contains { $0.hasPrefix("Range:") } }, "each refusal starts from byte 0")
        let refusals = log.captured.filter { $0.contains("refused the download") }
        #expect(refusals.count == 2, "\(log.captured)")
        // Always bad: the refusal is the error (exit 65), after the budget.
        let always = ScriptedTransport(Array(repeating: .answer(200, [:], bad), count: 10))
        do {
            _ = try client(always).downloadHashes(file, to: fd, progress: nil).content
            Issue.record("must fail")
        } catch let error as EntrypointError {
            #expect(error.code == .badRemoteData)
            #expect(error.message.contains("does not match Dropbox's"), "\(error.message)")
        }
        #expect(always.requests.count == 3)
    }
}
