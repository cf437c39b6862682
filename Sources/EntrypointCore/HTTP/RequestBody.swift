// A request's body and how libcurl is given it: none, bytes copied into libcurl, a range of an open
// file read as it is sent (uploads of a snapshot file), or a range of memory the caller keeps alive
// for the request (a streamed backup's chunk: sent without a second copy). A body libcurl has to
// send again (a retried connection) is rewound by the seek callback.
import CCurl
import CShims
import Glibc

/// A request body: bytes held in memory, a range of an open file, or memory the caller owns.
enum RequestBody {
    case none
    case bytes([UInt8])
    case file(fd: Int32, offset: Int64, length: Int64)
    /// Memory that stays valid until `perform` returns (never copied: flat memory for 8 MiB chunks).
    case memory(UnsafeRawBufferPointer)

    /// How many bytes the body holds.
    var length: Int64 {
        switch self {
        case .none: 0
        case .bytes(let bytes): Int64(bytes.count)
        case .file(_, _, let length): length
        case .memory(let bytes): Int64(bytes.count)
        }
    }
}

extension Curl {
    static func configureBody(
        _ handle: UnsafeMutableRawPointer, method: String, body: RequestBody, state: TransferState, context: UnsafeMutableRawPointer
    ) throws(CurlOptionRefused) {
        switch body {
        case .none:
            if method == "POST" {
                try Curl.set(handle, CURLOPT_POST, "CURLOPT_POST", 1)
                try Curl.set(handle, CURLOPT_POSTFIELDSIZE, "CURLOPT_POSTFIELDSIZE", 0)
                try Curl.set(handle, CURLOPT_COPYPOSTFIELDS, "CURLOPT_COPYPOSTFIELDS", "")
            }
        case .bytes(let bytes):
            try Curl.set(handle, CURLOPT_POST, "CURLOPT_POST", 1)
            try Curl.set(handle, CURLOPT_POSTFIELDSIZE, "CURLOPT_POSTFIELDSIZE", bytes.count)
            try Curl.check(bytes.withUnsafeBytes { ep_curl_setopt_ptr(handle, CURLOPT_COPYPOSTFIELDS, $0.baseAddress) }, "CURLOPT_COPYPOSTFIELDS")
        case .file(_, let offset, let length):
            state.uploadPosition = offset
            try streamed(handle, length: length, context: context)
        case .memory(let bytes):
            state.uploadPosition = 0
            try streamed(handle, length: Int64(bytes.count), context: context)
        }
    }

    /// A body sent through the read callback (a file range or caller-owned memory), rewindable.
    private static func streamed(_ handle: UnsafeMutableRawPointer, length: Int64, context: UnsafeMutableRawPointer) throws(CurlOptionRefused) {
        try Curl.set(handle, CURLOPT_POST, "CURLOPT_POST", 1)
        try Curl.set(handle, CURLOPT_POSTFIELDSIZE_LARGE, "CURLOPT_POSTFIELDSIZE_LARGE", large: curl_off_t(length))
        try Curl.check(ep_curl_setopt_data_callback(handle, CURLOPT_READFUNCTION, readCallback), "CURLOPT_READFUNCTION")
        try Curl.set(handle, CURLOPT_READDATA, "CURLOPT_READDATA", pointer: context)
        // A body curl must send again (a retried connection, a redirect-free resend) is read again
        // from its start: without this callback curl fails with CURLE_SEND_FAIL_REWIND (65).
        try Curl.set(handle, CURLOPT_SEEKFUNCTION, "CURLOPT_SEEKFUNCTION", pointer: unsafeBitCast(Curl.seekCallback, to: UnsafeRawPointer.self))
        try Curl.set(handle, CURLOPT_SEEKDATA, "CURLOPT_SEEKDATA", pointer: context)
    }

    /// CURLOPT_READFUNCTION: the next bytes of a file range (pread) or of caller-owned memory.
    static let readCallback: ep_data_callback = { buffer, size, count, userdata in
        let state = Unmanaged<TransferState>.fromOpaque(userdata!).takeUnretainedValue()
        switch state.upload {
        case .file(let fd, let offset, let length):
            let want = min(Int64(size * count), offset + length - state.uploadPosition)
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
        case .memory(let bytes):
            let want = min(size * count, bytes.count - Int(state.uploadPosition))
            if want <= 0 { return 0 }
            UnsafeMutableRawPointer(buffer).copyMemory(from: bytes.baseAddress! + Int(state.uploadPosition), byteCount: want)
            state.uploadPosition += Int64(want)
            return want
        case .none, .bytes:
            return 0
        }
    }

    /// CURLOPT_SEEKFUNCTION for a file or memory body: curl asks to rewind before sending it again.
    static let seekCallback: @convention(c) (UnsafeMutableRawPointer?, curl_off_t, Int32) -> Int32 = { userdata, offset, origin in
        let state = Unmanaged<TransferState>.fromOpaque(userdata!).takeUnretainedValue()
        guard origin == SEEK_SET, offset >= 0 else { return Int32(CURL_SEEKFUNC_CANTSEEK) }
        switch state.upload {
        case .file(_, let start, let length) where Int64(offset) <= length:
            state.uploadPosition = start + Int64(offset)
        case .memory(let bytes) where Int(offset) <= bytes.count:
            state.uploadPosition = Int64(offset)
        default:
            return Int32(CURL_SEEKFUNC_CANTSEEK)
        }
        return Int32(CURL_SEEKFUNC_OK)
    }
}
