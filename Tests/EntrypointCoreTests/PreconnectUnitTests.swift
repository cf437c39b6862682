// The pre-connect's two decisions that need no network: which origins count as different, and
// that a handed-over handle carries the content host's requests while the API's stay on the first.
import CCurl
import Foundation
import Glibc
import Testing

@testable import EntrypointCore

@Suite struct PreconnectUnitTests {
    @Test func originsAreSchemeHostAndPort() {
        let o = ContentPreconnect.origin
        #expect(o("https://content.dropboxapi.com") == "https://content.dropboxapi.com:443")
        #expect(o("https://Content.DropboxAPI.com:443/base") == o("https://content.dropboxapi.com"))
        #expect(o("https://api.dropboxapi.com") != o("https://content.dropboxapi.com"))
        #expect(o("https://127.0.0.1:8443") != o("https://localhost:8443"))
        #expect(o("https://127.0.0.1:8443") != o("https://127.0.0.1:8444"))
        #expect(o("http://127.0.0.1:8443") != o("https://127.0.0.1:8443"))
        #expect(o("http://127.0.0.1") == "http://127.0.0.1:80")
        #expect(o("ftp://example.com") == nil)
    }

    @Test func theHandedOverHandleCarriesOnlyTheContentHostsRequests() throws {
        let content = Array("the database".utf8)
        let h = ContentHasher()
        h.update(content)
        let hash = h.finalize()
        let metadata = #"{".tag": "file", "name": "db.sqlite", "rev": "015f00000001", "size": \#(content.count), "content_hash": "\#(hash)"}"#
        let api = ScriptedTransport([.answer(200, [:], Array(metadata.utf8))])
        let handedOver = ScriptedTransport([.answer(200, [:], content)])
        let config = try Configuration(environment: [
            "DROPBOX_ACCESS_TOKEN": "sl.unit-test-token", "DROPBOX_DB_PATH": "/db.sqlite", "RAILWAY_DB_PATH": "/tmp/unit/db.sqlite",
            "DROPBOX_API_URL": "http://localhost:9", "DROPBOX_CONTENT_URL": "http://127.0.0.1:9",
        ])
        let client = DropboxClient(config: config, log: Logger(level: .debug, fd: -1), curl: api, deadline: Clock.now() + 60)
        client.adoptContentConnection(handedOver)
        let file = try #require(try client.metadata("/db.sqlite"))
        var template = Array("/tmp/preconnect-test-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        try #require(fd >= 0)
        unlink(String(cString: template))
        defer { close(fd) }
        #expect(try client.downloadHashes(file, to: fd, progress: nil).content == hash)
        #expect(api.requests.map(\.url) == ["http://localhost:9/2/files/get_metadata"])
        #expect(handedOver.requests.map(\.url) == ["http://127.0.0.1:9/2/files/download"])
    }
}
