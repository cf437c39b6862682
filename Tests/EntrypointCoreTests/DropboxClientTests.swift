// The Dropbox client's pure parts: Retry-After (header, then JSON), HTTP dates, status lines, the one
// classifier of responses, rewindable upload bodies, retryable transport errors, summaries, metadata.
import CCurl
import Glibc
import Testing

@testable import EntrypointCore

@Suite struct DropboxClientTests {
    func response(_ status: Int, _ body: String, headers: [String: String] = [:]) -> HTTPResponse {
        HTTPResponse(status: status, headers: headers, body: Array(body.utf8))
    }

    @Test func retryAfterPrefersTheHeaderThenTheJSON() {
        #expect(DropboxClient.retryAfter(response(429, "", headers: ["retry-after": "7"])) == 7)
        #expect(DropboxClient.retryAfter(response(429, #"{"error": {"reason": {".tag": "too_many_requests"}, "retry_after": 3}}"#)) == 3)
        #expect(DropboxClient.retryAfter(response(429, #"{"retry_after": 2}"#)) == 2)
        #expect(DropboxClient.retryAfter(response(429, "too many requests")) == nil)
        // An HTTP date (RFC 9110 IMF-fixdate): the seconds from now until then; a past date: at once.
        #expect(DropboxClient.retryAfter(response(503, "", headers: ["retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"])) == 0)
        #expect(DropboxClient.retryAfter(response(503, "", headers: ["retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"]), now: 1_792_567_680 - 42) == 42)
        #expect(DropboxClient.retryAfter(response(503, "", headers: ["retry-after": "soon"])) == nil)
    }

    @Test func httpDatesAreIMFFixdates() {
        #expect(DropboxClient.httpDate("Wed, 21 Oct 2026 07:28:00 GMT") == 1_792_567_680)
        #expect(DropboxClient.httpDate("Wed, 21 Oct 2015 07:28:00 GMT") == 1_445_412_480)
        #expect(DropboxClient.httpDate("Thu, 01 Jan 1970 00:00:00 GMT") == 0)
        #expect(DropboxClient.httpDate("Sun, 29 Feb 2032 23:59:59 GMT") == 1_961_711_999)
        for bad in [
            "", "Wed, 21 Oct 2026 07:28:00", "Wed, 21 Oct 2026 07:28:00 UTC", "Wed, 21 Okt 2026 07:28:00 GMT",
            "Wed, 1 Oct 2026 07:28:00 GMT", "Wed, 21 Oct 2026 7:28:00 GMT", "Wed, 21 Oct 2026 24:00:00 GMT",
            "Wednesday, 21-Oct-26 07:28:00 GMT", "120",
        ] {
            #expect(DropboxClient.httpDate(bad) == nil, "\(bad)")
        }
    }

    @Test func statusLinesWithAndWithoutAReasonPhrase() {
        #expect(Curl.statusCode("HTTP/1.1 200 OK\r\n") == 200)
        #expect(Curl.statusCode("HTTP/1.1 200\r\n") == 200)
        #expect(Curl.statusCode("HTTP/2 200\r\n") == 200)
        #expect(Curl.statusCode("HTTP/2 206 \r\n") == 206)
        #expect(Curl.statusCode("HTTP/1.1 503 Service Unavailable\r\n") == 503)
        #expect(Curl.statusCode("HTTP/1.1 100 Continue\r\n") == 100)
        #expect(Curl.statusCode("content-type: text/html\r\n") == nil)
        #expect(Curl.statusCode("HTTP/1.1\r\n") == nil)
        #expect(Curl.statusCode("HTTP/1.1 2000\r\n") == nil)
    }

    @Test func oneClassifierOfResponses() {
        for status in [408, 425, 429, 500, 502, 503, 504, 599] {
            guard case .retry(_, let reason, let progressed, _) = DropboxClient.classify(response(status, "busy")) else {
                Issue.record("HTTP \(status) must be retried")
                continue
            }
            #expect(reason == "HTTP \(status) busy")
            #expect(!progressed)
        }
        for status in [200, 206, 400, 401, 403, 404, 409, 413, 416] {
            guard case .done(let r) = DropboxClient.classify(response(status, "")) else {
                Issue.record("HTTP \(status) is not retryable")
                continue
            }
            #expect(r.status == status)
        }
        if case .retry(let after, _, _, _) = DropboxClient.classify(response(429, "", headers: ["retry-after": "3"])) {
            #expect(after == 3)
        } else {
            Issue.record("429 must be retried")
        }
    }

    @Test func uploadBodiesCanBeRewound() {
        let state = TransferState()
        state.upload = .file(fd: 3, offset: 1000, length: 500)
        state.uploadPosition = 1400
        let context = Unmanaged.passUnretained(state).toOpaque()
        #expect(Curl.seekCallback(context, 0, SEEK_SET) == Int32(CURL_SEEKFUNC_OK))
        #expect(state.uploadPosition == 1000)
        #expect(Curl.seekCallback(context, 120, SEEK_SET) == Int32(CURL_SEEKFUNC_OK))
        #expect(state.uploadPosition == 1120)
        #expect(Curl.seekCallback(context, 501, SEEK_SET) == Int32(CURL_SEEKFUNC_CANTSEEK))
        #expect(Curl.seekCallback(context, 10, SEEK_CUR) == Int32(CURL_SEEKFUNC_CANTSEEK))
        #expect(state.uploadPosition == 1120)
        state.upload = .bytes([1, 2, 3])
        #expect(Curl.seekCallback(context, 0, SEEK_SET) == Int32(CURL_SEEKFUNC_CANTSEEK))
    }

    @Test func transportErrorsWorthRetrying() {
        for code in [
            CURLE_WEIRD_SERVER_REPLY, CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_OPERATION_TIMEDOUT, CURLE_GOT_NOTHING,
            CURLE_COULDNT_CONNECT, CURLE_PARTIAL_FILE, CURLE_SEND_FAIL_REWIND,
        ] {
            #expect(TransportError(code: code, message: "").isRetryable, "curl \(code.rawValue)")
        }
        for code in [CURLE_PEER_FAILED_VERIFICATION, CURLE_WRITE_ERROR, CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT] {
            #expect(!TransportError(code: code, message: "").isRetryable, "curl \(code.rawValue)")
        }
    }

    @Test func summaryNamesDropboxsReason() {
        #expect(DropboxClient.summary(response(409, #"{"error_summary": "path/not_found/..", "error": {".tag": "path"}}"#)) == "path/not_found/..")
        #expect(
            DropboxClient.summary(response(400, #"{"error": "invalid_grant", "error_description": "refresh token is malformed"}"#))
                == "invalid_grant: refresh token is malformed")
        #expect(
            DropboxClient.summary(response(400, "Error in call to API function \"files/download\": bad header\nmore"))
                == "Error in call to API function \"files/download\": bad header")
    }

    @Test func metadataNeedsRevSizeAndHash() throws {
        #expect(RemoteFile(try JSON.parse(#"{".tag": "file", "rev": "abc123def", "size": 1}"#)) == nil)
        #expect(RemoteFile(try JSON.parse(#"{".tag": "folder", "rev": "a", "size": 1, "content_hash": "x"}"#)) == nil)
        #expect(RemoteFile(try JSON.parse(#"{".tag": "file", "rev": "a", "size": -1, "content_hash": "x"}"#)) == nil)
    }
}
