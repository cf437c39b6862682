// libcurl's easy API, wrapped: one handle reused for every request (connection reuse), TLS
// verification always on, only http/https, deadlines from the caller, and a progress hook that
// aborts a transfer when a stop signal arrives.
import CCurl
import CShims
import Glibc

/// A request body: bytes held in memory, or a range of an open file (uploads, flat memory).
enum RequestBody {
    case none
    case bytes([UInt8])
    case file(fd: Int32, offset: Int64, length: Int64)
}

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
}

/// A transport failure (no HTTP status): libcurl's code and its message.
struct TransportError: Error {
    let code: CURLcode
    let message: String
    /// Set when entrypoint aborted the transfer itself (deadline, signal).
    var abort: TransferAbort? = nil

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
}

/// What DropboxClient needs from HTTP: one request, no retries. `Curl` is the real one; unit tests
/// script answers with their own (Tests/EntrypointCoreTests/RetryTests.swift).
protocol Transport: AnyObject {
    func perform(
        method: String, url: String, headers: [String], body: RequestBody, deadline: Double,
        sink: ((UnsafeRawBufferPointer, TransferState) -> Bool)?, progress: ((Int64, Int64) -> Void)?
    ) throws(TransportError) -> HTTPResponse
}

final class Curl: Transport {
    private let handle: UnsafeMutableRawPointer
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
    private let caSource: CASource
    let userAgent: String

    init(caSource: CASource, connectTimeout: Double, stallTimeout: Double) throws(EntrypointError) {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
        guard let h = curl_easy_init() else {
            throw EntrypointError(.software, "cannot initialise libcurl")
        }
        handle = h
        self.caSource = caSource
        userAgent = "entrypoint/\(Version.string)"
        errorBuffer[0] = 0
        _ = ep_curl_setopt_ptr(handle, CURLOPT_ERRORBUFFER, errorBuffer)
        _ = ep_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        _ = "http,https".withCString { ep_curl_setopt_ptr(handle, CURLOPT_PROTOCOLS_STR, $0) }
        _ = ep_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0)
        _ = ep_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1)
        _ = ep_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2)
        _ = ep_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(connectTimeout * 1000))
        _ = ep_curl_setopt_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1024)
        _ = ep_curl_setopt_long(handle, CURLOPT_LOW_SPEED_TIME, max(1, Int(stallTimeout)))
        _ = ep_curl_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1)
        _ = ep_curl_setopt_long(handle, CURLOPT_BUFFERSIZE, 512 * 1024)
        _ = ep_curl_setopt_long(handle, CURLOPT_UPLOAD_BUFFERSIZE, 512 * 1024)
        _ = userAgent.withCString { ep_curl_setopt_ptr(handle, CURLOPT_USERAGENT, $0) }
        switch caSource {
        case .file(let path, _):
            _ = path.withCString { ep_curl_setopt_ptr(handle, CURLOPT_CAINFO, $0) }
        case .directory(let path, _):
            _ = ep_curl_setopt_ptr(handle, CURLOPT_CAINFO, nil)
            _ = path.withCString { ep_curl_setopt_ptr(handle, CURLOPT_CAPATH, $0) }
        case .embedded:
            var length = 0
            let data = ep_embedded_ca(&length)
            _ = ep_curl_setopt_ptr(handle, CURLOPT_CAINFO, nil)
            _ = ep_curl_setopt_ptr(handle, CURLOPT_CAPATH, nil)
            _ = ep_curl_setopt_blob(handle, CURLOPT_CAINFO_BLOB, data, length)
        }
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
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
        let context = Unmanaged.passUnretained(state).toOpaque()

        curl_easy_reset_request(handle)
        _ = url.withCString { ep_curl_setopt_ptr(handle, CURLOPT_URL, $0) }
        var list: UnsafeMutablePointer<curl_slist>?
        for header in headers { list = header.withCString { curl_slist_append(list, $0) } }
        // No "Expect: 100-continue" round trip for uploads.
        list = "Expect:".withCString { curl_slist_append(list, $0) }
        defer { curl_slist_free_all(list) }
        _ = ep_curl_setopt_ptr(handle, CURLOPT_HTTPHEADER, list)

        switch body {
        case .none:
            if method == "POST" {
                _ = ep_curl_setopt_long(handle, CURLOPT_POST, 1)
                _ = ep_curl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, 0)
                _ = "".withCString { ep_curl_setopt_ptr(handle, CURLOPT_COPYPOSTFIELDS, $0) }
            }
        case .bytes(let bytes):
            _ = ep_curl_setopt_long(handle, CURLOPT_POST, 1)
            _ = ep_curl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, bytes.count)
            _ = bytes.withUnsafeBytes { ep_curl_setopt_ptr(handle, CURLOPT_COPYPOSTFIELDS, $0.baseAddress) }
        case .file(_, let offset, let length):
            state.uploadPosition = offset
            _ = ep_curl_setopt_long(handle, CURLOPT_POST, 1)
            _ = ep_curl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(length))
            _ = ep_curl_setopt_data_callback(handle, CURLOPT_READFUNCTION) { buffer, size, count, userdata in
                let state = Unmanaged<TransferState>.fromOpaque(userdata!).takeUnretainedValue()
                guard case .file(let fd, let offset, let length) = state.upload else { return 0 }
                let remaining = offset + length - state.uploadPosition
                let want = min(Int64(size * count), remaining)
                if want <= 0 { return 0 }
                while true {
                    let n = pread(fd, buffer, Int(want), off_t(state.uploadPosition))
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 {
                        state.uploadError = SystemError(errno: n < 0 ? errno : EIO, call: "pread")
                        return Int(CURL_READFUNC_ABORT)
                    }
                    state.uploadPosition += Int64(n)
                    return n
                }
            }
            _ = ep_curl_setopt_ptr(handle, CURLOPT_READDATA, context)
            // A body curl must send again (a retried connection, a redirect-free resend) is re-read
            // from the file: without this callback curl fails with CURLE_SEND_FAIL_REWIND (65).
            _ = ep_curl_setopt_ptr(handle, CURLOPT_SEEKFUNCTION, unsafeBitCast(Curl.seekCallback, to: UnsafeRawPointer.self))
            _ = ep_curl_setopt_ptr(handle, CURLOPT_SEEKDATA, context)
        }
        if method != "POST" && method != "GET" {
            _ = method.withCString { ep_curl_setopt_ptr(handle, CURLOPT_CUSTOMREQUEST, $0) }
        }

        _ = ep_curl_setopt_data_callback(handle, CURLOPT_WRITEFUNCTION) { ptr, size, count, userdata in
            let state = Unmanaged<TransferState>.fromOpaque(userdata!).takeUnretainedValue()
            let bytes = UnsafeRawBufferPointer(start: ptr, count: size * count)
            if let sink = state.sink, (200..<300).contains(state.response.status) {
                return sink(bytes, state) ? bytes.count : 0
            }
            // Error bodies are small; cap what we keep.
            if state.response.body.count < 1 << 20 { state.response.body.append(contentsOf: bytes) }
            return bytes.count
        }
        _ = ep_curl_setopt_ptr(handle, CURLOPT_WRITEDATA, context)
        _ = ep_curl_setopt_data_callback(handle, CURLOPT_HEADERFUNCTION) { ptr, size, count, userdata in
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
        }
        _ = ep_curl_setopt_ptr(handle, CURLOPT_HEADERDATA, context)
        _ = ep_curl_setopt_long(handle, CURLOPT_NOPROGRESS, 0)
        _ = ep_curl_setopt_xferinfo(handle) { clientp, dltotal, dlnow, ultotal, ulnow in
            let state = Unmanaged<TransferState>.fromOpaque(clientp!).takeUnretainedValue()
            if let sig = Optional(ep_signal_pending()), sig != 0 {
                state.abortReason = "stopped by \(signalName(sig))"
                state.abort = .signal(sig)
                return 1
            }
            if Clock.now() > state.deadline {
                state.abortReason = "the deadline was reached"
                state.abort = .deadline
                return 1
            }
            state.progress?(Int64(max(dlnow, ulnow)), Int64(max(dltotal, ultotal)))
            return 0
        }
        _ = ep_curl_setopt_ptr(handle, CURLOPT_XFERINFODATA, context)
        let remaining = deadline - Clock.now()
        if remaining.isFinite {
            _ = ep_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, max(1, Int(remaining * 1000)))
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
        _ = ep_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        state.response.status = status
        return state.response
    }

    /// The status code of an HTTP status line (`HTTP/1.1 200 OK`, `HTTP/1.1 200`, `HTTP/2 200`), or
    /// nil for any other header line. The reason phrase is optional (RFC 9112 section 4).
    static func statusCode(_ line: String) -> Int? {
        guard line.hasPrefix("HTTP/") else { return nil }
        let parts = line.split(whereSeparator: { $0.isWhitespace })
        guard parts.count >= 2, parts[1].count == 3, let status = Int(parts[1]), (100...999).contains(status) else { return nil }
        return status
    }

    /// CURLOPT_SEEKFUNCTION for a file body: curl asks to rewind before sending the body again.
    static let seekCallback: @convention(c) (UnsafeMutableRawPointer?, curl_off_t, Int32) -> Int32 = { userdata, offset, origin in
        let state = Unmanaged<TransferState>.fromOpaque(userdata!).takeUnretainedValue()
        guard origin == SEEK_SET, case .file(_, let start, let length) = state.upload, offset >= 0, Int64(offset) <= length else {
            return Int32(CURL_SEEKFUNC_CANTSEEK)
        }
        state.uploadPosition = start + Int64(offset)
        return Int32(CURL_SEEKFUNC_OK)
    }

    /// Resets the per-request options while keeping connections, TLS sessions and our defaults.
    private func curl_easy_reset_request(_ handle: UnsafeMutableRawPointer) {
        _ = ep_curl_setopt_ptr(handle, CURLOPT_CUSTOMREQUEST, nil)
        _ = ep_curl_setopt_long(handle, CURLOPT_HTTPGET, 1)
        _ = ep_curl_setopt_ptr(handle, CURLOPT_POSTFIELDS, nil)
        _ = ep_curl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, -1)
        _ = ep_curl_setopt_data_callback(handle, CURLOPT_READFUNCTION, nil)
        _ = ep_curl_setopt_ptr(handle, CURLOPT_SEEKFUNCTION, nil)
        _ = ep_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, 0)
    }
}
