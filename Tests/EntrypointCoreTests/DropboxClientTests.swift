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
        #expect(DropboxClient.retryAfter(response(503, "", headers: ["retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"])) == nil)
    }

    @Test func summaryNamesDropboxsReason() {
        #expect(DropboxClient.summary(response(409, #"{"error_summary": "path/not_found/..", "error": {".tag": "path"}}"#)) == "path/not_found/..")
        #expect(DropboxClient.summary(response(400, #"{"error": "invalid_grant", "error_description": "refresh token is malformed"}"#)) == "invalid_grant: refresh token is malformed")
        #expect(DropboxClient.summary(response(400, "Error in call to API function \"files/download\": bad header\nmore")) == "Error in call to API function \"files/download\": bad header")
    }

    @Test func metadataNeedsRevSizeAndHash() throws {
        #expect(RemoteFile(try JSON.parse(#"{".tag": "file", "rev": "abc123def", "size": 1}"#)) == nil)
        #expect(RemoteFile(try JSON.parse(#"{".tag": "folder", "rev": "a", "size": 1, "content_hash": "x"}"#)) == nil)
        #expect(RemoteFile(try JSON.parse(#"{".tag": "file", "rev": "a", "size": -1, "content_hash": "x"}"#)) == nil)
    }
}
