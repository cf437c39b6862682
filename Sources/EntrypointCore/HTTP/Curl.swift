// libcurl's easy API, wrapped: one handle reused for every request (connection reuse), TLS
// verification always on, only http/https, deadlines from the caller, and a progress hook that
// aborts a transfer when a stop signal arrives.
import CCurl
import CShims
import Glibc

struct HTTPResponse {
    var status: Int = 0
    /// Lower-cased header names; the last value wins.
    var headers: [String: String] = [:]
    /// The body, when the caller did not stream it elsewhere.
    var body: [UInt8] = []

    var bodyText: String { String(decoding: body, as: UTF8.self) }
    var json: JSON? { try? JSON.parse(body) }
}

/// Why entrypoint itself stopped a transfer (a typed value, never a message to parse).
enum TransferAbort: Equatable {
    /// ENTRYPOINT_DEADLINE was reached during the transfer.
    case deadline
    /// A stop signal (SIGTERM, SIGINT) arrived.
    case signal(Int32)
    /// The caller's `giveWay` said to stop (a streamed backup giving way to the app's checkpoint).
    case gaveWay
}

/// A transport failure (no HTTP status): libcurl's code and its message.
struct TransportError: Error {
    let code: CURLcode
    let message: String
    /// Set when entrypoint aborted the transfer itself (deadline, signal).
    var abort: TransferAbort? = nil
    /// Set when libcurl refused an option for this request (`CURLOPT_...`): our bug or a libcurl
    /// built without a feature, never a network condition (exit 70, not retried).
    var refusedOption: String? = nil

    /// Connection-level failures worth retrying.
    var isRetryable: Bool {
        switch code {
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_CONNECT,
            CURLE_OPERATION_TIMEDOUT, CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_PARTIAL_FILE,
            CURLE_GOT_NOTHING, CURLE_SSL_CONNECT_ERROR, CURLE_HTTP2, CURLE_HTTP2_STREAM,
            CURLE_WEIRD_SERVER_REPLY, CURLE_SEND_FAIL_REWIND:
            true
        default:
            false
        }
    }
}

/// Callbacks are C function pointers; this box carries the Swift state they need.
final class TransferState {
    var sink: ((UnsafeRawBufferPointer, TransferState) -> Bool)?
    var response = HTTPResponse()
    var upload: RequestBody = .none
    var uploadPosition: Int64 = 0
    var uploadError: SystemError?
    var progress: ((Int64, Int64) -> Void)?
    var abortReason: String?
    var abort: TransferAbort?
    var deadline: Double = .infinity
    /// Polled with the stop signal: true stops the transfer (the pre-connect's cancel, another thread's).
    var cancelled: (() -> Bool)?
    /// Polled likewise: true stops the transfer as `TransferAbort.gaveWay`.
    var giveWay: (() -> Bool)?
}

/// What DropboxClient needs from HTTP: one request, no retries. `Curl` is the real one; unit tests
/// script answers with their own (Tests/EntrypointCoreTests/RetryTests.swift).
protocol Transport: AnyObject {
    func perform(
        method: String, url: String, headers: [String], body: RequestBody, deadline: Double,
        sink: ((UnsafeRawBufferPointer, TransferState) -> Bool)?, progress: ((Int64, Int64) -> Void)?
    ) throws(TransportError) -> HTTPResponse

    /// A new handle with the same settings and its own connections (the content pre-connect's), or
    /// nil when this transport cannot make one (a scripted one).
    func sibling() throws(EntrypointError) -> Curl?
    /// From now on every transfer polls `check` (nil: no more) and stops when it says so, as
    /// `TransferAbort.gaveWay` (a scripted transport never stops).
    func giveWay(when check: (() -> Bool)?)
}

extension Transport {
    func sibling() throws(EntrypointError) -> Curl? { nil }
    func giveWay(when check: (() -> Bool)?) {}
}

final class Curl: Transport {
    private let handle: UnsafeMutableRawPointer
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
    private let caSource: CASource
    private let connectTimeout: Double
    private let stallTimeout: Double
    let userAgent: String
    /// Polled by the progress callback of every transfer on this handle: true aborts it (within
    /// about a second: libcurl calls the callback at least that often, also while connecting).
    var cancelled: (() -> Bool)?
    /// Polled likewise: true stops the transfer as `TransferAbort.gaveWay` (Transport.giveWay).
    private var giveWayCheck: (() -> Bool)?

    func giveWay(when check: (() -> Bool)?) { giveWayCheck = check }

    init(caSource: CASource, connectTimeout: Double, stallTimeout: Double) throws(EntrypointError) {
        let global = curl_global_init(Int(CURL_GLOBAL_DEFAULT))
        guard global == CURLE_OK else {
            throw EntrypointError(.software, "cannot initialise libcurl: \(String(cString: curl_easy_strerror(global)))")
        }
        guard let h = curl_easy_init() else {
            throw EntrypointError(.software, "cannot initialise libcurl")
        }
        handle = h
        self.caSource = caSource
        self.connectTimeout = connectTimeout
        self.stallTimeout = stallTimeout
        userAgent = "entrypoint/\(Version.string)"
        errorBuffer[0] = 0
        do throws(CurlOptionRefused) {
            try Curl.set(handle, CURLOPT_ERRORBUFFER, "CURLOPT_ERRORBUFFER", pointer: errorBuffer)
            try Curl.set(handle, CURLOPT_NOSIGNAL, "CURLOPT_NOSIGNAL", 1)
            try Curl.set(handle, CURLOPT_PROTOCOLS_STR, "CURLOPT_PROTOCOLS_STR", "http,https")
            try Curl.set(handle, CURLOPT_FOLLOWLOCATION, "CURLOPT_FOLLOWLOCATION", 0)
            try Curl.set(handle, CURLOPT_SSL_VERIFYPEER, "CURLOPT_SSL_VERIFYPEER", 1)
            try Curl.set(handle, CURLOPT_SSL_VERIFYHOST, "CURLOPT_SSL_VERIFYHOST", 2)
            try Curl.set(handle, CURLOPT_CONNECTTIMEOUT_MS, "CURLOPT_CONNECTTIMEOUT_MS", Int(connectTimeout * 1000))
            try Curl.set(handle, CURLOPT_LOW_SPEED_LIMIT, "CURLOPT_LOW_SPEED_LIMIT", 1024)
            try Curl.set(handle, CURLOPT_LOW_SPEED_TIME, "CURLOPT_LOW_SPEED_TIME", max(1, Int(stallTimeout)))
            try Curl.set(handle, CURLOPT_TCP_KEEPALIVE, "CURLOPT_TCP_KEEPALIVE", 1)
            try Curl.set(handle, CURLOPT_BUFFERSIZE, "CURLOPT_BUFFERSIZE", 512 * 1024)
            try Curl.set(handle, CURLOPT_UPLOAD_BUFFERSIZE, "CURLOPT_UPLOAD_BUFFERSIZE", 512 * 1024)
            try Curl.set(handle, CURLOPT_USERAGENT, "CURLOPT_USERAGENT", userAgent)
            switch caSource {
            case .file(let path, _):
                try Curl.set(handle, CURLOPT_CAINFO, "CURLOPT_CAINFO", path)
            case .directory(let path, _):
                try Curl.set(handle, CURLOPT_CAINFO, "CURLOPT_CAINFO", pointer: nil)
                try Curl.set(handle, CURLOPT_CAPATH, "CURLOPT_CAPATH", path)
            case .embedded:
                var length = 0
                let data = ep_embedded_ca(&length)  // the length is the result; the pointer is never null
                try Curl.set(handle, CURLOPT_CAINFO, "CURLOPT_CAINFO", pointer: nil)
                try Curl.set(handle, CURLOPT_CAPATH, "CURLOPT_CAPATH", pointer: nil)
                try Curl.check(ep_curl_setopt_blob(handle, CURLOPT_CAINFO_BLOB, data, length), "CURLOPT_CAINFO_BLOB")
            }
        } catch {
            throw error.entrypointError  // deinit cleans the handle up (self is fully initialised)
        }
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    /// A second handle with the same settings and its own connection cache (the pre-connect's).
    /// libcurl lets a handle move between threads as long as one thread at a time uses it.
    func sibling() throws(EntrypointError) -> Curl? {
        try Curl(caSource: caSource, connectTimeout: connectTimeout, stallTimeout: stallTimeout)
    }

    /// Performs one request. The body goes to `sink` when given (return false to abort), otherwise
    /// it is collected in the response. `deadline` is a monotonic time (Clock.now) for the whole request.
    func perform(
        method: String, url: String, headers: [String], body: RequestBody = .none,
        deadline: Double, sink: ((UnsafeRawBufferPointer, TransferState) -> Bool)? = nil,
        progress: ((Int64, Int64) -> Void)? = nil
    ) throws(TransportError) -> HTTPResponse {
        let state = TransferState()
        state.sink = sink
        state.upload = body
        state.progress = progress
        state.deadline = deadline
        state.cancelled = cancelled
        state.giveWay = giveWayCheck

        var list: UnsafeMutablePointer<curl_slist>?
        for header in headers { list = header.withCString { curl_slist_append(list, $0) } }
        // No "Expect: 100-continue" round trip for uploads.
        list = "Expect:".withCString { curl_slist_append(list, $0) }
        defer { curl_slist_free_all(list) }
        do throws(CurlOptionRefused) {
            try configure(method: method, url: url, headers: list, body: body, deadline: deadline, state: state)
        } catch {
            throw TransportError(code: error.code, message: error.message, refusedOption: error.option)
        }
        errorBuffer[0] = 0
        let code = curl_easy_perform(handle)
        if code != CURLE_OK {
            var message = String(cString: errorBuffer)
            if message.isEmpty { message = String(cString: curl_easy_strerror(code)) }
            if let reason = state.abortReason { message = reason }
            if let e = state.uploadError { message = "reading the upload: \(e.message)" }
            var abort = state.abort
            if abort == nil && code == CURLE_OPERATION_TIMEDOUT && Clock.now() >= deadline { abort = .deadline }
            throw TransportError(code: code, message: message, abort: abort)
        }
        var status: Int = 0
        let info = ep_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        if info != CURLE_OK {
            let refused = CurlOptionRefused(option: "CURLINFO_RESPONSE_CODE", code: info)
            throw TransportError(code: info, message: refused.message, refusedOption: refused.option)
        }
        state.response.status = status
        return state.response
    }

    /// Sets the options of one request (the defaults from `init` stay).
    private func configure(
        method: String, url: String, headers list: UnsafeMutablePointer<curl_slist>?, body: RequestBody,
        deadline: Double, state: TransferState
    ) throws(CurlOptionRefused) {
        let context = Unmanaged.passUnretained(state).toOpaque()
        try resetRequest()
        try Curl.set(handle, CURLOPT_URL, "CURLOPT_URL", url)
        try Curl.set(handle, CURLOPT_HTTPHEADER, "CURLOPT_HTTPHEADER", pointer: list)

        try Curl.configureBody(handle, method: method, body: body, state: state, context: context)
        if method != "POST" && method != "GET" {
            try Curl.set(handle, CURLOPT_CUSTOMREQUEST, "CURLOPT_CUSTOMREQUEST", method)
        }

        try Curl.check(
            ep_curl_setopt_data_callback(handle, CURLOPT_WRITEFUNCTION) { ptr, size, count, userdata in
                let state = Unmanaged<TransferState>.fromOpaque(userdata!).takeUnretainedValue()
                let bytes = UnsafeRawBufferPointer(start: ptr, count: size * count)
                if let sink = state.sink, (200..<300).contains(state.response.status) {
                    return sink(bytes, state) ? bytes.count : 0
                }
                // Error bodies are small; cap what we keep.
                if state.response.body.count < 1 << 20 { state.response.body.append(contentsOf: bytes) }
                return bytes.count
            }, "CURLOPT_WRITEFUNCTION")
        try Curl.set(handle, CURLOPT_WRITEDATA, "CURLOPT_WRITEDATA", pointer: context)
        try Curl.check(
            ep_curl_setopt_data_callback(handle, CURLOPT_HEADERFUNCTION) { ptr, size, count, userdata in
                let state = Unmanaged<TransferState>.fromOpaque(userdata!).takeUnretainedValue()
                let line = String(decoding: UnsafeRawBufferPointer(start: ptr, count: size * count), as: UTF8.self)
                if let status = Curl.statusCode(line) {
                    // A new response (e.g. after a 100 Continue): start over.
                    state.response = HTTPResponse()
                    state.response.status = status
                } else if let colon = line.firstIndex(of: ":") {
                    let name = line[..<colon].lowercased()
                    let value = String(line[line.index(after: colon)...]).trimmingWhitespace()
                    state.response.headers[name] = value
                }
                return size * count
            }, "CURLOPT_HEADERFUNCTION")
        try Curl.set(handle, CURLOPT_HEADERDATA, "CURLOPT_HEADERDATA", pointer: context)
        try Curl.set(handle, CURLOPT_NOPROGRESS, "CURLOPT_NOPROGRESS", 0)
        try Curl.check(
            ep_curl_setopt_xferinfo(handle) { clientp, dltotal, dlnow, ultotal, ulnow in
                let state = Unmanaged<TransferState>.fromOpaque(clientp!).takeUnretainedValue()
                if let sig = Optional(Signals.pending), sig != 0 {
                    state.abortReason = "stopped by \(Signals.name(sig))"
                    state.abort = .signal(sig)
                    return 1
                }
                if Clock.now() > state.deadline {
                    state.abortReason = "the deadline was reached"
                    state.abort = .deadline
                    return 1
                }
                if let giveWay = state.giveWay, giveWay() {
                    state.abort = .gaveWay
                    state.abortReason = "gave way"
                    return 1
                }
                if let cancelled = state.cancelled, cancelled() {
                    state.abortReason = "cancelled"
                    return 1
                }
                state.progress?(Int64(max(dlnow, ulnow)), Int64(max(dltotal, ultotal)))
                return 0
            }, "CURLOPT_XFERINFOFUNCTION")
        try Curl.set(handle, CURLOPT_XFERINFODATA, "CURLOPT_XFERINFODATA", pointer: context)
        let remaining = deadline - Clock.now()
        if remaining.isFinite {
            try Curl.set(handle, CURLOPT_TIMEOUT_MS, "CURLOPT_TIMEOUT_MS", max(1, Int(remaining * 1000)))
        }
    }

    static func statusCode(_ line: String) -> Int? {
        guard line.hasPrefix("HTTP/") else { return nil }
        let parts = line.split(whereSeparator: { $0.isWhitespace })
        guard parts.count >= 2, parts[1].count == 3, let status = Int(parts[1]), (100...999).contains(status) else { return nil }
        return status
    }

    /// Resets the per-request options while keeping connections, TLS sessions and our defaults.
    private func resetRequest() throws(CurlOptionRefused) {
        try Curl.set(handle, CURLOPT_CUSTOMREQUEST, "CURLOPT_CUSTOMREQUEST", pointer: nil)
        try Curl.set(handle, CURLOPT_POSTFIELDS, "CURLOPT_POSTFIELDS", pointer: nil)
        try Curl.set(handle, CURLOPT_POSTFIELDSIZE, "CURLOPT_POSTFIELDSIZE", -1)
        // After CURLOPT_POSTFIELDS, which makes the request a POST even when set to NULL: a request
        // without a body is a GET unless configure() sets CURLOPT_POST (the heartbeat's GET).
        try Curl.set(handle, CURLOPT_HTTPGET, "CURLOPT_HTTPGET", 1)
        try Curl.check(ep_curl_setopt_data_callback(handle, CURLOPT_READFUNCTION, nil), "CURLOPT_READFUNCTION")
        try Curl.set(handle, CURLOPT_SEEKFUNCTION, "CURLOPT_SEEKFUNCTION", pointer: nil)
        try Curl.set(handle, CURLOPT_TIMEOUT_MS, "CURLOPT_TIMEOUT_MS", 0)
    }
}

/// libcurl refused an option (`curl_easy_setopt` did not return CURLE_OK): the option's name and code.
struct CurlOptionRefused: Error {
    let option: String
    let code: CURLcode

    var message: String { "libcurl refused \(option): \(String(cString: curl_easy_strerror(code)))" }
    var entrypointError: EntrypointError { EntrypointError(.software, message) }
}

extension Curl {
    /// The one check of a `curl_easy_setopt` result: anything but CURLE_OK is an error naming the option.
    static func check(_ code: CURLcode, _ option: String) throws(CurlOptionRefused) {
        if code != CURLE_OK { throw CurlOptionRefused(option: option, code: code) }
    }

    static func set(_ handle: UnsafeMutableRawPointer, _ option: CURLoption, _ name: String, _ value: Int) throws(CurlOptionRefused) {
        try check(ep_curl_setopt_long(handle, option, value), name)
    }

    static func set(_ handle: UnsafeMutableRawPointer, _ option: CURLoption, _ name: String, large value: curl_off_t) throws(CurlOptionRefused) {
        try check(ep_curl_setopt_off(handle, option, value), name)
    }

    /// A string option (libcurl copies it).
    static func set(_ handle: UnsafeMutableRawPointer, _ option: CURLoption, _ name: String, _ value: String) throws(CurlOptionRefused) {
        try check(value.withCString { ep_curl_setopt_ptr(handle, option, $0) }, name)
    }

    static func set(_ handle: UnsafeMutableRawPointer, _ option: CURLoption, _ name: String, pointer: UnsafeRawPointer?) throws(CurlOptionRefused) {
        try check(ep_curl_setopt_ptr(handle, option, pointer), name)
    }
}
