// Percent-encoding: a form body of the OAuth requests, and a path inside a SQLite file: URI.
import Testing

@testable import EntrypointCore

@Suite struct PercentEncodingTests {
    @Test func formEncoding() {
        #expect(formEncode("a b&c=d/é~") == "a%20b%26c%3Dd%2F%C3%A9~")
        #expect(SQLite.uriEscape("/data/a b?#%ü.db") == "/data/a%20b%3F%23%25%C3%BC.db")
    }
}
