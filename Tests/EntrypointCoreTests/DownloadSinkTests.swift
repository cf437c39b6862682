// The download hands bytes to a sink its caller owns: each range at its offset, a restart when
// the bytes must start over, and a local failure of the sink stops it. The restore's sink writes
// the temporary file at the offset, truncates it on a restart, and hashes what it took.
import CCurl
import Foundation
import Glibc
import Testing

@testable import EntrypointCore

/// A sink in memory that records what the Dropbox layer asked of it.
private final class RecordingSink: DownloadSink {
    var bytes: [UInt8] = []
    var takes: [(offset: Int64, count: Int)] = []
    var restarts = 0
    var failWith: EntrypointError?

    func take(_ chunk: UnsafeRawBufferPointer, at offset: Int64) throws(EntrypointError) {
        if let failWith { throw failWith }
        takes.append((offset, chunk.count))
        bytes.replaceSubrange(Int(offset)..<min(bytes.count, Int(offset) + chunk.count), with: chunk)
    }

    func restart() throws(EntrypointError) {
        restarts += 1
        bytes = []
    }

    func contentHash() -> String {
        let h = ContentHasher()
        h.update(bytes)
        return h.finalize()
    }
}

@Suite struct DownloadSinkTests {
    let content = (0..<1000).map { UInt8($0 % 251) }

    func file() -> RemoteFile {
        let h = ContentHasher()
        h.update(content)
        let json = try! JSON.parse(
            Array(#"{".tag": "file", "name": "db.sqlite", "rev": "015f00000001", "size": \#(content.count), "content_hash": "\#(h.finalize())"}"#.utf8))
        return RemoteFile(json)!
    }

    func client(_ transport: ScriptedTransport) throws -> DropboxClient {
        let config = try Configuration(environment: [
            "DROPBOX_ACCESS_TOKEN": "sl.unit-test-token", "DROPBOX_DB_PATH": "/db.sqlite", "RAILWAY_DB_PATH": "/tmp/unit/db.sqlite",
            "DROPBOX_API_URL": "http://127.0.0.1:9", "DROPBOX_CONTENT_URL": "http://127.0.0.1:9",
            "ENTRYPOINT_BACKOFF_BASE": "0.01", "ENTRYPOINT_BACKOFF_CAP": "0.02", "ENTRYPOINT_MAX_ATTEMPTS": "3",
        ])
        return DropboxClient(config: config, log: Logger(level: .debug, fd: -1), curl: transport, deadline: Clock.now() + 60)
    }

    @Test func rangesArriveAtTheirOffsetsAndAnIgnoredRangeRestartsTheSink() throws {
        let t = ScriptedTransport([
            .partial(200, [:], Array(content[0..<300])),
            .partial(206, ["content-range": "bytes 300-999/1000"], Array(content[300..<700])),
            // The server ignores the Range of the third request: all bytes again, from 0.
            .answer(200, [:], content),
        ])
        let sink = RecordingSink()
        let f = file()
        #expect(try client(t).download(f, into: sink, progress: nil) == f.contentHash)
        #expect(sink.takes.map(\.offset) == [0, 300, 0], "\(sink.takes)")
        #expect(sink.takes.map(\.count) == [300, 400, 1000])
        #expect(sink.restarts == 1)
        #expect(sink.bytes == content)
        #expect(t.requests[1].headers.contains("Range: bytes=300-"))
        #expect(t.requests[2].headers.contains("Range: bytes=700-"))
    }

    @Test func aSinkThatFailsStopsTheDownloadWithItsError() throws {
        let t = ScriptedTransport(Array(repeating: .answer(200, [:], content), count: 3))
        let sink = RecordingSink()
        sink.failWith = EntrypointError(.localIO, "cannot write the temporary file: No space left on device")
        do {
            _ = try client(t).download(file(), into: sink, progress: nil)
            Issue.record("must fail")
        } catch let error as EntrypointError {
            #expect(error.code == .localIO && error.message.contains("No space left"), "\(error.message)")
        }
        #expect(t.requests.count == 1, "a local failure is not retried")
    }

    func put(_ sink: TemporaryFileSink, _ bytes: [UInt8], at offset: Int64) throws {
        var failure: EntrypointError?
        bytes.withUnsafeBytes { b in
            do throws(EntrypointError) { try sink.take(b, at: offset) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// A full volume names the file being written (the base's or the download's temporary).
    @Test func aFullVolumeNamesTheTemporaryFile() throws {
        let fd = open("/dev/full", O_WRONLY)  // every write: ENOSPC
        try #require(fd >= 0)
        defer { close(fd) }
        let sink = TemporaryFileSink(fd: fd, path: "/data/db.sqlite.entrypoint-base-tmp-x")
        #expect {
            try put(sink, [1, 2, 3], at: 0)
        } throws: { error in
            let message = (error as? EntrypointError)?.message ?? ""
            return message.contains("/data/db.sqlite.entrypoint-base-tmp-x") && message.contains("the volume is full")
        }
        _ = sink.contentHash()  // joins the hashing thread
    }

    @Test func theTemporaryFileSinkWritesAtTheOffsetTruncatesOnRestartAndHashes() throws {
        var template = Array("/tmp/download-sink-test-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        try #require(fd >= 0)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        defer { close(fd) }
        let sink = TemporaryFileSink(fd: fd)
        try put(sink, Array(repeating: UInt8(7), count: 500), at: 0)
        try sink.restart()
        #expect(lseek(fd, 0, SEEK_END) == 0, "a restart truncates the file")
        try put(sink, Array(content[0..<600]), at: 0)
        try put(sink, Array(content[600...]), at: 600)
        #expect(sink.contentHash() == file().contentHash)
        #expect(sink.dataHash != nil)
        var back = [UInt8](repeating: 0, count: content.count)
        #expect(pread(fd, &back, back.count, 0) == content.count)
        #expect(back == content)
    }
}
