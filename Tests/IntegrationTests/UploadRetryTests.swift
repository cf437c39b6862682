// Uploads that survive a network that drops connections and loses answers: a reset before, during
// or after Dropbox stored a single upload, a session's append or its finish is retried to exactly the
// snapshot the record describes, never a duplicate revision or a skipped byte; a real conflict stays
// a conflict, and an answer that does not show the snapshot is not a success.
import Foundation
import TestSupport
import Testing

@Suite struct UploadRetryTests {
    /// Short backoff, and uploads of more than 4 MiB in a session of 4 MiB appends.
    let inSessions = fast.merging(["ENTRYPOINT_UPLOAD_CHUNK_MB": "4"]) { _, b in b }

    /// The uploaded revision is byte-identical to the snapshot the record describes.
    func expectUploadedIsTheSnapshot(_ w: World, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let uploaded = try #require(w.fake.uploaded("/database.db").last, sourceLocation: sourceLocation)
        #expect(try DB.items(uploaded) == ["base", "railway"], sourceLocation: sourceLocation)
        let hash = try run(["--hash", uploaded], env: [:])
        let rec = try savedRecord(w)
        #expect(hash.stdout.hasPrefix(rec["content_hash"] as? String ?? "?"), "\(hash.stdout) vs \(rec)", sourceLocation: sourceLocation)
        let size = (try FileManager.default.attributesOfItem(atPath: uploaded)[.size] as? Int) ?? -1
        #expect(size == rec["size"] as? Int, sourceLocation: sourceLocation)
    }

    @Test func resetAfterDropboxStoredASingleUploadIsASuccess() throws {
        let w = try World()
        try w.restoredThenWritten("railway")
        try w.fake.fault(["route": "files/upload", "kind": "reset_after_store"])
        let r = try run(["--backup"], env: w.env(fast))
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("the first upload attempt had already stored it"), "\(r.stderr)")
        // No conflict, no duplicate revision.
        #expect(w.fake.uploaded("/database.db").count == 1)
        #expect(w.fake.requests("files/upload").map { $0["fault"] as? String } == ["reset_after_store", nil])
        try expectUploadedIsTheSnapshot(w)
        let again = try run(["--backup"], env: w.env())
        #expect(again.status == 0 && again.stderr.contains("already has this database"), "\(again.output)")
    }

    @Test func resetAfterStoreOfAFirstUploadIsANoOpRetry() throws {
        let w = try World()
        try w.localDatabase(["base", "railway"])
        try w.fake.fault(["route": "files/upload", "kind": "reset_after_store"])
        let r = try run(["--backup"], env: w.env(fast))
        #expect(r.status == 0, "\(r.output)")
        #expect(w.fake.uploaded("/database.db").count == 1)
        try expectUploadedIsTheSnapshot(w)
    }

    /// The resend of an `add` whose answer was lost finds its own identical file; with
    /// `strict_conflict` Dropbox answers a conflict (files.stone CommitInfo.strict_conflict), and
    /// the backup counts it as success only through its get_metadata check.
    @Test func strictConflictOnOwnIdenticalUploadIsCheckedWithGetMetadata() throws {
        let w = try World()
        try w.localDatabase(["base", "railway"])
        try w.fake.fault(["route": "files/upload", "kind": "reset_after_store"])
        let r = try run(["--backup"], env: w.env(fast))
        #expect(r.status == 0, "\(r.output)")
        #expect(w.fake.requests("files/upload").map { $0["status"] as? Int } == [nil, 409])
        #expect(r.stderr.contains("files/upload: Dropbox answered path/conflict/file"), "\(r.stderr)")
        #expect(r.stderr.contains("the first upload attempt had already stored it"), "\(r.stderr)")
        #expect(w.fake.uploaded("/database.db").count == 1)
        try expectUploadedIsTheSnapshot(w)
    }

    @Test func resetDuringTheBodyIsRetried() throws {
        let w = try World()
        try w.restoredThenWritten("railway", padding: 300_000)
        try w.fake.fault(["route": "files/upload", "kind": "reset_during_body", "bytes": 100_000])
        let r = try run(["--backup"], env: w.env(fast))
        #expect(r.status == 0, "\(r.output)")
        #expect(w.fake.requests("files/upload").map { $0["status"] as? Int } == [nil, 200])
        #expect(w.fake.uploaded("/database.db").count == 1)
        try expectUploadedIsTheSnapshot(w)
    }

    @Test func resetAfterAStoredSessionAppendContinuesAtTheCorrectOffset() throws {
        let w = try World()
        try w.restoredThenWritten("railway", padding: 9_000_000)
        try w.fake.fault(["route": "files/upload_session/append_v2", "kind": "reset_after_store"])
        let r = try run(["--backup"], env: w.env(inSessions))
        #expect(r.status == 0, "\(r.output)")
        // The session was not restarted; the retry learned Dropbox's offset and went on from there.
        #expect(w.fake.requests("files/upload_session/start").count == 1)
        let appends = w.fake.requests("files/upload_session/append_v2")
        #expect(appends.first?["fault"] as? String == "reset_after_store")
        #expect(appends.contains { $0["status"] as? Int == 409 }, "\(appends)")
        #expect(r.stderr.contains("Dropbox already has the"), "\(r.stderr)")
        // No byte sent twice into the file, none skipped.
        try expectUploadedIsTheSnapshot(w)
    }

    @Test func resetAfterAStoredFinishIsASuccess() throws {
        let w = try World()
        try w.restoredThenWritten("railway", padding: 5_000_000)
        try w.fake.fault(["route": "files/upload_session/finish", "kind": "reset_after_store"])
        let r = try run(["--backup"], env: w.env(inSessions))
        #expect(r.status == 0, "\(r.output)")
        #expect(w.fake.uploaded("/database.db").count == 1)
        try expectUploadedIsTheSnapshot(w)
    }

    @Test func serviceUnavailableOnFinishIsRetried() throws {
        let w = try World()
        try w.restoredThenWritten("railway", padding: 5_000_000)
        try w.fake.fault(["route": "files/upload_session/finish", "kind": "status", "status": 503])
        let r = try run(["--backup"], env: w.env(inSessions))
        #expect(r.status == 0, "\(r.output)")
        #expect(w.fake.requests("files/upload_session/finish").map { $0["status"] as? Int } == [503, 200])
        try expectUploadedIsTheSnapshot(w)
    }

    @Test func aRealConflictOnTheRetryIsStillAConflict() throws {
        let w = try World()
        try w.restoredThenWritten("railway")
        // The first attempt breaks before Dropbox stores anything; its retry gets a conflict while
        // Dropbox still holds the other (restored) content: a real conflict.
        let conflict = #"{"error_summary": "path/conflict/file/..", "error": {".tag": "path", "reason": {".tag": "conflict", "conflict": {".tag": "file"}}}}"#
        try w.fake.fault(["route": "files/upload", "kind": "status", "status": 409, "body": conflict, "skip": 1])
        try w.fake.fault(["route": "files/upload", "kind": "reset_during_body", "bytes": 0])
        let r = try run(["--backup"], env: w.env(fast))
        #expect(r.status == 76, "\(r.output)")
        #expect(r.stderr.contains("path/conflict"), "\(r.stderr)")
        #expect(w.fake.uploaded("/database.db").isEmpty)
    }

    @Test func metadataAfterTheUploadMustShowTheSnapshot() throws {
        let w = try World()
        try w.restoredThenWritten("railway")
        // The get_metadata after the upload (the second one) reports other content.
        let other =
            #"{".tag": "file", "name": "database.db", "path_display": "/database.db", "rev": "0123456789abc", "size": 5, "content_hash": "\#(String(repeating: "ab", count: 32))", "server_modified": "2026-12-01T00:00:00Z"}"#
        try w.fake.fault(["route": "files/get_metadata", "kind": "status", "status": 200, "body": other, "skip": 1])
        let r = try run(["--backup"], env: w.env(fast))
        #expect(r.status == 65, "\(r.output)")
        #expect(countLines(r.stderr, containing: "0123456789abc") == 1, "\(r.stderr)")
    }
}
