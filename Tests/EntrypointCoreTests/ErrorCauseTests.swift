// EntrypointError's cause is a typed value set where the error is made; one place reports it.
import CCurl
import Foundation
import Glibc
import TestSupport
import Testing

@testable import EntrypointCore

/// A transport whose requests end as scripted transport failures.
private final class FailingTransport: Transport {
    let code: CURLcode
    let abort: TransferAbort?
    init(_ code: CURLcode, _ abort: TransferAbort? = nil) {
        self.code = code
        self.abort = abort
    }
    func perform(
        method: String, url: String, headers: [String], body: RequestBody, deadline: Double,
        sink: ((UnsafeRawBufferPointer, TransferState) -> Bool)?, progress: ((Int64, Int64) -> Void)?
    ) throws(TransportError) -> HTTPResponse {
        throw TransportError(code: code, message: "scripted", abort: abort)
    }
}

/// Answers every request with one status and body.
private final class AnsweringTransport: Transport {
    let status: Int
    let body: [UInt8]
    init(_ status: Int, _ body: String) {
        self.status = status
        self.body = Array(body.utf8)
    }
    func perform(
        method: String, url: String, headers: [String], body: RequestBody, deadline: Double,
        sink: ((UnsafeRawBufferPointer, TransferState) -> Bool)?, progress: ((Int64, Int64) -> Void)?
    ) throws(TransportError) -> HTTPResponse {
        HTTPResponse(status: status, headers: [:], body: self.body)
    }
}

@Suite struct ErrorCauseTests {
    func client(_ transport: any Transport) throws -> DropboxClient {
        let env = [
            "DROPBOX_ACCESS_TOKEN": "sl.unit-test-token", "DROPBOX_DB_PATH": "/db.sqlite", "RAILWAY_DB_PATH": "/tmp/unit/db.sqlite",
            "DROPBOX_API_URL": "http://127.0.0.1:9", "DROPBOX_CONTENT_URL": "http://127.0.0.1:9",
            "ENTRYPOINT_BACKOFF_BASE": "0.01", "ENTRYPOINT_BACKOFF_CAP": "0.02", "ENTRYPOINT_MAX_ATTEMPTS": "2",
        ]
        return DropboxClient(
            config: try Configuration(environment: env), log: Logger(level: .debug, fd: -1), curl: transport, deadline: Clock.now() + 60)
    }

    func cause(_ body: () throws -> Void) -> EntrypointError.Cause? {
        do { try body() } catch let error as EntrypointError { return error.cause } catch {}
        return nil
    }

    @Test func aFailedSystemCallCarriesTheCallAndErrno() {
        let error = SystemError(errno: ENOSPC, call: "write").localError("write", "/data/x.db")
        #expect(error.cause == .system(call: "write", errno: ENOSPC))
        #expect(error.code == .localIO)
        #expect(error.message == "cannot write /data/x.db: No space left on device (the volume is full)")
    }

    @Test func theDeadlineAndCurlCodesAreCauses() throws {
        #expect(cause { _ = try client(FailingTransport(CURLE_OPERATION_TIMEDOUT, .deadline)).metadata("/db.sqlite") } == .deadline)
        #expect(
            cause { _ = try client(FailingTransport(CURLE_UNSUPPORTED_PROTOCOL)).metadata("/db.sqlite") }
                == .curl(code: Int32(CURLE_UNSUPPORTED_PROTOCOL.rawValue), option: nil))
        #expect(cause { _ = try client(FailingTransport(CURLE_OK, .signal(SIGTERM))).metadata("/db.sqlite") } == .signal(SIGTERM))
    }

    @Test func anHTTPRefusalCarriesItsStatusAndSummary() throws {
        let body = #"{"error_summary": "path/malformed_path/..", "error": {".tag": "path"}}"#
        #expect(
            cause { _ = try client(AnsweringTransport(400, body)).metadata("/db.sqlite") }
                == .http(status: 400, summary: "path/malformed_path/.."))
        #expect(
            cause { _ = try client(AnsweringTransport(409, #"{"error_summary": "other/..", "error": {".tag": "other"}}"#)).metadata("/db.sqlite") }
                == .http(status: 409, summary: "other/.."))
    }

    @Test func aSignalErrorExitsWith128PlusTheSignalWithItsOwnLine() {
        let error = EntrypointError(signal: SIGINT, consequence: "no refresh token was printed")
        #expect(error.message == "stopped by SIGINT; no refresh token was printed")
        #expect(error.exitStatus == 128 + SIGINT)
        let amended = error.with(message: "other line")
        #expect(amended.cause == .signal(SIGINT) && amended.exitStatus == 128 + SIGINT && amended.message == "other line")
        #expect(Entrypoint.report(EntrypointError(.lockTimeout, "x"), Logger(level: .error, fd: -1)) == 75)
    }

    @Test func theSnapshotVerificationSaysWhatItMeansForABackup() throws {
        let dir = TempDir()
        let path = dir.file("cause.db")
        try Data("not sqlite".utf8).write(to: URL(fileURLWithPath: path))
        #expect {
            try SQLite.verify(path, what: "the snapshot", code: .localIO, consequence: "nothing was uploaded")
        } throws: { error in
            let e = error as? EntrypointError
            return e?.code == .localIO && e?.message == "the snapshot is not a SQLite database (no \"SQLite format 3\" header); nothing was uploaded"
        }
    }
}
