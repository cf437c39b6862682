// Issue 21: where a merge's base comes from, chosen by a pure function the restore, the backup and
// --check share: the proven copy on the volume first (no download), else the record's rev.
import Foundation
import TestSupport
import Testing

@testable import EntrypointCore

@Suite struct BaseSourceTests {
    let record = StateRecord(contentHash: "c1", rev: "a1c10ce0dd78", size: 100, event: "restored", time: "t", dataHash: "d1")
    let remote = RemoteFile(.object([("rev", .string("b2c20ce0dd78")), ("size", .number(100)), ("content_hash", .string("c2"))]))!

    @Test func theCopyOnTheVolumeComesFirstThenTheRecordsRev() {
        #expect(BaseSource.choose(proven: "/v/app.db.entrypoint-base", record: record) == .onVolume(path: "/v/app.db.entrypoint-base"))
        #expect(BaseSource.choose(proven: nil, record: record) == .revision(rev: "a1c10ce0dd78", contentHash: "c1", dataHash: "d1"))
        #expect(BaseSource.choose(proven: nil, record: nil) == nil, "no record: no base")
        #expect(BaseSource.revision(rev: "a1c10ce0dd78", contentHash: "c1", dataHash: nil).name == "Dropbox's rev a1c10ce0dd78")
    }

    @Test func aRestoreWithoutABaseFileMergesWithTheRecordsRev() throws {
        let dir = TempDir()
        let local = LocalState(size: 100, contentHash: "live", dataHash: "newer")
        let (decision, base) = RestoreDecision.decideWithBase(local: local, remote: remote, record: record, db: dir.file("app.db"))
        #expect(decision == .merge(rev: "b2c20ce0dd78"))
        #expect(base == .revision(rev: "a1c10ce0dd78", contentHash: "c1", dataHash: "d1"))
        #expect(decision.checkLine(remote: remote, record: record, keepCopies: 3, base: base).contains("whose base would be downloaded by rev a1c10ce0dd78"))
        // Only when both changed: a restore of a new rev with the local database unchanged needs no base.
        let unchanged = LocalState(size: 100, contentHash: "live", dataHash: "d1")
        #expect(RestoreDecision.decideWithBase(local: unchanged, remote: remote, record: record, db: dir.file("app.db")).1 == nil)
    }

    @Test func whatMakesTheMergeImpossible() {
        #expect(BaseSource.cannotBeHad(EntrypointError(.remoteMissing, "gone")))
        #expect(BaseSource.cannotBeHad(EntrypointError(.badRemoteData, "another state")))
        #expect(BaseSource.cannotBeHad(EntrypointError(.unavailable, "restricted", cause: .http(status: 409, summary: "path/restricted_content/"))))
        #expect(!BaseSource.cannotBeHad(EntrypointError(.unavailable, "unreachable")), "the network is the caller's to report")
        #expect(!BaseSource.cannotBeHad(EntrypointError(.localIO, "full")))
    }
}
