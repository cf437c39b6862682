// Every libcurl option is checked: a refusal is an error naming the option (exit 70), never ignored.
import CCurl
import Glibc
import Testing

@testable import EntrypointCore

/// A transport whose every request fails because libcurl refused an option.
private final class RefusingTransport: Transport {
    private(set) var calls = 0
    func perform(
        method: String, url: String, headers: [String], body: RequestBody, deadline: Double,
        sink: ((UnsafeRawBufferPointer, TransferState) -> Bool)?, progress: ((Int64, Int64) -> Void)?
    ) throws(TransportError) -> HTTPResponse {
        calls += 1
        let refused = CurlOptionRefused(option: "CURLOPT_POSTFIELDSIZE_LARGE", code: CURLE_BAD_FUNCTION_ARGUMENT)
        throw TransportError(code: refused.code, message: refused.message, refusedOption: refused.option)
    }
}

@Suite struct CurlOptionTests {
    @Test func aRefusedOptionIsAnErrorNamingIt() throws {
        let handle = try #require(curl_easy_init())
        defer { curl_easy_cleanup(handle) }
        // A protocol libcurl does not know is refused.
        #expect { try Curl.set(handle, CURLOPT_PROTOCOLS_STR, "CURLOPT_PROTOCOLS_STR", "no-such-protocol") } throws: { error in
            guard let refused = error as? CurlOptionRefused else { return false }
            return refused.option == "CURLOPT_PROTOCOLS_STR" && refused.code != CURLE_OK
                && refused.entrypointError.code == .software
                && refused.message.hasPrefix("libcurl refused CURLOPT_PROTOCOLS_STR: ")
                && refused.message.count > "libcurl refused CURLOPT_PROTOCOLS_STR: ".count
        }
        try Curl.set(handle, CURLOPT_PROTOCOLS_STR, "CURLOPT_PROTOCOLS_STR", "http,https")
    }

    @Test func aRefusedOptionIsNotRetriedAndExits70() throws {
        let env = [
            "DROPBOX_ACCESS_TOKEN": "sl.unit-test-token", "DROPBOX_DB_PATH": "/db.sqlite", "RAILWAY_DB_PATH": "/tmp/unit/db.sqlite",
            "DROPBOX_API_URL": "http://127.0.0.1:9", "DROPBOX_CONTENT_URL": "http://127.0.0.1:9",
            "ENTRYPOINT_BACKOFF_BASE": "0.01", "ENTRYPOINT_BACKOFF_CAP": "0.02", "ENTRYPOINT_MAX_ATTEMPTS": "3",
        ]
        let transport = RefusingTransport()
        let client = DropboxClient(
            config: try Configuration(environment: env), log: Logger(level: .debug, fd: -1), curl: transport, deadline: Clock.now() + 60)
        #expect { _ = try client.metadata("/db.sqlite") } throws: { error in
            guard let e = error as? EntrypointError else { return false }
            return e.code == .software && e.message.contains("libcurl refused CURLOPT_POSTFIELDSIZE_LARGE")
        }
        #expect(transport.calls == 1)
    }
}
