// What a killed start or backup worker leaves beside the database is removed by the next start and
// by the supervisor after a stopped worker: every temporary entrypoint makes (the merge's download of
// Dropbox's rev included), and nothing else (the database, its record, base, copies and conflicts).
import Foundation
import TestSupport
import Testing

@testable import EntrypointCore

@Suite struct TemporariesTests {
    @Test func everyTemporaryGoesAndNothingElse() throws {
        let dir = TempDir()
        let db = dir.file("production.db")
        let temporaries = [
            "production.db.entrypoint-download-a1B2c3", "production.db.entrypoint-backup-d4E5f6", "production.db.entrypoint.json.tmp-g7H8i9",
            "production.db.entrypoint-failback.json.tmp-j1K2l3", "production.db" + MergeInstall.tempInfix + "m4N5o6",
            "production.db.entrypoint-conflicts-p7Q8r9", "production.db.entrypoint-base-tmp-s1T2u3",
        ]
        let kept = [
            "production.db", "production.db-wal", "production.db.entrypoint.json", "production.db.entrypoint-base", "production.db.entrypoint.lock",
            "production.db.local-20261207T120000Z", "production.conflicts-20261207T120000Z.db", "other.db.entrypoint-backup-v4W5x6",
        ]
        for name in temporaries + kept { #expect(FileManager.default.createFile(atPath: dir.file(name), contents: Data("x".utf8))) }
        let removed = Temporaries.removeLeftovers(of: db, leftBy: "a test", log: Logger(level: .error, fd: -1))
        #expect(removed.sorted() == temporaries.map(dir.file).sorted())
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == kept.sorted())
    }
}
