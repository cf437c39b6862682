// The JSON codec: Dropbox's metadata parsed, escapes and surrogate pairs, malformed input refused,
// the ASCII-only encoding Dropbox-API-Arg needs, round trips.
import Testing

@testable import EntrypointCore

@Suite struct JSONTests {
    @Test func parsesDropboxMetadata() throws {
        let text = """
            {".tag": "file", "name": "database.db", "path_display": "/Datenbank/bücher.db", "rev": "a1c10ce0dd78",
             "size": 9711423, "is_downloadable": true, "content_hash": "485291FA0EE50C016982ABBFA943957BCD231AAE0492CCBAA22C58E3997B35E0",
             "server_modified": "2026-11-28T12:00:00Z", "nested": {"a": [1, 2.5, -3e2, null, false]}}
            """
        let json = try JSON.parse(text)
        let file = try #require(RemoteFile(json))
        #expect(file.rev == "a1c10ce0dd78")
        #expect(file.size == 9_711_423)
        #expect(file.contentHash == "485291fa0ee50c016982abbfa943957bcd231aae0492ccbaa22c58e3997b35e0")
        #expect(file.pathDisplay == "/Datenbank/bücher.db")
        #expect(json["nested"]?["a"] == .array([.number(1), .number(2.5), .number(-300), .null, .bool(false)]))
    }

    @Test func decodesEscapesAndSurrogatePairs() throws {
        let json = try JSON.parse(#"{"s": "a\"b\\c\/d\n\u00fc\ud83d\ude00"}"#)
        #expect(json["s"]?.string == "a\"b\\c/d\nü😀")
    }

    @Test func rejectsMalformedInput() {
        for bad in ["", "{", "{\"a\":}", "[1,]", "\"unterminated", "{\"a\":1} x", "nul", "\"\\ud800\""] {
            #expect(throws: JSON.ParseError.self, "\(bad)") { try JSON.parse(bad) }
        }
    }

    @Test func headerSafeEncodingEscapesNonASCIIAndDEL() {
        // The example from Dropbox's json-encoding reference.
        let value = JSON.object([("field", .string("some_üñîcødé_and_\u{7F}"))])
        #expect(value.encoded(asciiOnly: true) == #"{"field":"some_\u00fc\u00f1\u00eec\u00f8d\u00e9_and_\u007f"}"#)
        // Astral characters become a UTF-16 surrogate pair.
        #expect(JSON.string("😀").encoded(asciiOnly: true) == #""\ud83d\ude00""#)
        // Without asciiOnly, UTF-8 passes through; control characters are always escaped.
        #expect(JSON.string("ü\u{1}").encoded() == "\"ü\\u0001\"")
    }

    @Test func roundTrips() throws {
        let value = JSON.object([
            ("path", .string("rev:0123456789abcdef")), ("n", .number(150 * 1024 * 1024)), ("ok", .bool(true)),
            ("list", .array([.null, .string("\"q\"")])),
        ])
        #expect(try JSON.parse(value.encoded()) == value)
        #expect(try JSON.parse(value.encoded(asciiOnly: true)) == value)
    }
}
