// files/download: pinned to a rev, resumable with Range, verified against Dropbox's content hash,
// all inside one retry loop. The bytes go to a `DownloadSink` the caller owns (the restore's is
// Restore/DownloadSink.swift): this layer never touches a file.
import CCurl
import CShims
import Glibc

/// Where a download's bytes go. The Dropbox layer hands over each received range in order, tells
/// the sink to drop what it has when the bytes must start over, and asks for the content hash of
/// what it took once all bytes are in; it never writes, truncates or hashes anything itself.
protocol DownloadSink: AnyObject {
    /// Takes `bytes`, the file's bytes from `offset` on (`offset` is the count taken since the
    /// start or the last `restart`). A thrown error is local (the disk): the download stops.
    func take(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(EntrypointError)
    /// Drops everything taken: the next bytes are the file's from byte 0.
    func restart() throws(EntrypointError)
    /// All bytes are in: the Dropbox content hash of exactly the bytes taken.
    func contentHash() -> String
}

extension DropboxClient {

    /// Streams revision `file.rev` into `sink`, resuming a dropped transfer with Range from the last
    /// byte taken. Returns the content hash of the bytes taken, which equals `file.contentHash`: a
    /// download whose bytes fail verification (content hash mismatch, an HTML page, another rev in
    /// Dropbox-API-Result, too many bytes, a resume at the wrong offset) is refused, logged, and
    /// started again from byte 0 within the same attempt budget and deadline. When those run out,
    /// the last refusal is the error (exit 65).
    /// One retry loop: an attempt that moved bytes does not use up ENTRYPOINT_MAX_ATTEMPTS.
    func download(_ file: RemoteFile, into sink: any DownloadSink, progress: Progress?) throws(EntrypointError) -> String {
        let transfer = DownloadTransfer(file: file, sink: sink)
        var refreshed = false
        let hash = try withRetry(DownloadTransfer.route) { () throws(EntrypointError) -> Attempt<String> in
            try downloadAttempt(transfer, progress: progress, refreshed: &refreshed)
        }
        progress?.finish(UInt64(transfer.taken))
        return hash
    }

    /// One request of the download: from byte 0, or resumed from what the sink took so far.
    private func downloadAttempt(_ transfer: DownloadTransfer, progress: Progress?, refreshed: inout Bool) throws(EntrypointError) -> Attempt<String> {
        let before = transfer.taken
        transfer.refusal = nil
        let outcome: Attempt<HTTPResponse>
        do throws(EntrypointError) {
            outcome = try attempt(
                DownloadTransfer.route, host: config.contentURL, headers: { transfer.headers() },
                body: { .none }, sink: { bytes, state in transfer.receive(bytes, state) },
                sinkError: { transfer.fatal ?? transfer.refusal },
                progress: { _, _ in progress?.update(UInt64(transfer.taken)) },
                refreshed: &refreshed)
        } catch {
            if transfer.fatal == nil, let why = transfer.refusal { return try transfer.startOver(why) }
            throw error
        }
        if let e = transfer.fatal { throw e }
        if let why = transfer.refusal { return try transfer.startOver(why) }
        switch outcome {
        case .retry(let after, let reason, _, _):
            return .retry(after: after, reason: reason, progressed: transfer.taken > before)
        case .done(let response):
            return try concludeDownload(response, transfer, before: before)
        }
    }

    /// A complete answer: all bytes (then they must be the ones Dropbox describes), a short body
    /// (resume), or a refusal that ends the download.
    private func concludeDownload(_ response: HTTPResponse, _ transfer: DownloadTransfer, before: Int64) throws(EntrypointError) -> Attempt<String> {
        let file = transfer.file
        let route = DownloadTransfer.route
        switch response.status {
        case 200, 206:
            if UInt64(transfer.taken) < file.size {
                // The server closed a "complete" body early (or sent a short Content-Length).
                return .retry(after: nil, reason: "the body ended after \(transfer.taken) of \(file.size) bytes", progressed: transfer.taken > before)
            }
        case 416 where UInt64(transfer.taken) == file.size:
            break
        case 409:
            let summary = Self.summary(response)
            if summary.hasPrefix("path/not_found") {
                throw EntrypointError(
                    .remoteMissing, "\(route): rev \(file.rev) of \(config.remotePath) no longer exists (HTTP 409 \(summary))",
                    cause: .http(status: 409, summary: summary))
            }
            throw EntrypointError(.unavailable, "\(route): HTTP 409 \(summary)", cause: .http(status: 409, summary: summary))
        default:
            throw failure(route, response)
        }
        let got = transfer.sink.contentHash()
        if got != file.contentHash {
            return try transfer.startOver(
                EntrypointError(
                    .badRemoteData,
                    "the downloaded file's content hash \(got) does not match Dropbox's \(file.contentHash) for rev \(file.rev); nothing was installed"))
        }
        return .done(got)
    }
}

/// The state of one download across its requests: how many bytes the sink took, and why the
/// current response was cut off (a local failure stops; bad data from Dropbox starts over).
final class DownloadTransfer {
    static let route = "files/download"
    let file: RemoteFile
    let sink: any DownloadSink
    private let arg: String
    /// Bytes the sink took since the start or the last restart: where a resumed request begins.
    private(set) var taken: Int64 = 0
    /// A local failure (the sink's): stops everything.
    var fatal: EntrypointError?
    /// Bad data from Dropbox: start over from byte 0.
    var refusal: EntrypointError?
    private var checkedThisResponse = false

    init(file: RemoteFile, sink: any DownloadSink) {
        self.file = file
        self.sink = sink
        arg = JSON.object([("path", .string("rev:" + file.rev))]).encoded(asciiOnly: true)
    }

    /// The request's headers; a resumed request asks for the bytes from `taken` on.
    func headers() -> [String] {
        var h = ["Dropbox-API-Arg: \(arg)", "Content-Type:"]
        if taken > 0 { h.append("Range: bytes=\(taken)-") }
        checkedThisResponse = false  // every attempt's response is checked afresh
        return h
    }

    /// libcurl's write callback for a 2xx body: checks the response once, then hands the bytes to
    /// the sink. False aborts the transfer (`fatal` or `refusal` says why).
    func receive(_ bytes: UnsafeRawBufferPointer, _ state: TransferState) -> Bool {
        if !checkedThisResponse {
            checkedThisResponse = true
            guard accept(state.response) else { return false }
        }
        if UInt64(taken) + UInt64(bytes.count) > file.size {
            refusal = EntrypointError(.badRemoteData, "\(Self.route) sent more than the \(file.size) bytes of rev \(file.rev); nothing was installed")
            return false
        }
        do throws(EntrypointError) {
            try sink.take(bytes, at: taken)
        } catch {
            fatal = error
            return false
        }
        taken += Int64(bytes.count)
        return true
    }

    /// The first bytes of a response: is it the file we asked for, from where we asked?
    private func accept(_ response: HTTPResponse) -> Bool {
        let route = Self.route
        if let type = response.headers["content-type"], type.lowercased().hasPrefix("text/html") {
            refusal = EntrypointError(
                .badRemoteData,
                "Dropbox answered \(route) with an HTML page (HTTP \(response.status), Content-Type \(type)) instead of the file; nothing was installed")
            return false
        }
        if let result = response.headers["dropbox-api-result"], let json = try? JSON.parse(result),
            let rev = json["rev"]?.string, rev != file.rev
        {
            refusal = EntrypointError(.badRemoteData, "\(route) returned rev \(rev), expected \(file.rev); nothing was installed")
            return false
        }
        if response.status == 200 && taken > 0 {
            // The server ignored our Range: start over from byte 0.
            do throws(EntrypointError) {
                try restart()
            } catch {
                fatal = error
                return false
            }
        } else if response.status == 206 {
            let range = response.headers["content-range"] ?? ""
            if !range.hasPrefix("bytes \(taken)-") {
                refusal = EntrypointError(
                    .badRemoteData, "\(route): resumed at the wrong offset (Content-Range \(range), wanted \(taken)); nothing was installed")
                return false
            }
        }
        return true
    }

    private func restart() throws(EntrypointError) {
        taken = 0
        try sink.restart()
    }

    /// Refuses what arrived so far: back to byte 0 and a retry that counts.
    func startOver(_ why: EntrypointError) throws(EntrypointError) -> Attempt<String> {
        try restart()
        return .retry(after: nil, reason: "refused the download: \(why.message)", failure: why)
    }
}
