// The restore decision.
import Foundation
import Testing

@testable import EntrypointCore

@Suite struct RestoreDecisionTests {
    let remote = RemoteFile(.object([("rev", .string("r2")), ("size", .number(100)), ("content_hash", .string("remote"))]))!

    func record(rev: String = "r2", content: String = "remote", data: String? = "data-r2", localHash: String? = nil) -> StateRecord {
        StateRecord(contentHash: content, rev: rev, size: 100, event: "uploaded", time: "t", localHash: localHash, dataHash: data)
    }

    func local(content: String = "live", data: String = "data-r2", unusable: String? = nil) -> LocalState {
        LocalState(size: 100, contentHash: content, dataHash: data, unusable: unusable)
    }

    @Test func allCases() {
        // Byte for byte Dropbox's file.
        #expect(RestoreDecision.decide(local: local(content: "remote"), remote: remote, record: nil) == .hashMatch)
        // No local database, or an empty one.
        #expect(RestoreDecision.decide(local: nil, remote: remote, record: record()) == .download(keepCopy: false, reason: .noLocal))
        #expect(
            RestoreDecision.decide(local: LocalState(size: 0, contentHash: "e", dataHash: "e"), remote: remote, record: nil)
                == .download(keepCopy: false, reason: .noLocal))
        // Neither changed: same data, no download.
        #expect(RestoreDecision.decide(local: local(), remote: remote, record: record()) == .sameData(rev: "r2"))
        // Local changed, Dropbox unchanged: keep it.
        #expect(RestoreDecision.decide(local: local(data: "newer"), remote: remote, record: record()) == .keepLocalChanges(rev: "r2"))
        // Dropbox changed (rev or content hash), local unchanged: download, no copy.
        #expect(RestoreDecision.decide(local: local(), remote: remote, record: record(rev: "r1")) == .download(keepCopy: false, reason: .remoteChanged))
        #expect(RestoreDecision.decide(local: local(), remote: remote, record: record(content: "old")) == .download(keepCopy: false, reason: .remoteChanged))
        // Both changed: divergence, download and keep a copy.
        #expect(
            RestoreDecision.decide(local: local(data: "newer"), remote: remote, record: record(rev: "r1")) == .download(keepCopy: true, reason: .bothChanged))
        // No record: cannot prove unchanged.
        #expect(RestoreDecision.decide(local: local(), remote: remote, record: nil) == .download(keepCopy: true, reason: .noRecord))
        // Not a usable database: replaced, kept as a copy, whatever the record says.
        #expect(
            RestoreDecision.decide(local: local(unusable: "bad"), remote: remote, record: record()) == .download(keepCopy: true, reason: .localUnusable("bad")))
    }

    /// Records of older versions have no data_hash: the old content-hash rule applies.
    @Test func recordsWithoutDataHash() {
        let afterRestore = record(content: "remote", data: nil)
        #expect(RestoreDecision.decide(local: local(content: "live"), remote: remote, record: afterRestore) == .keepLocalChanges(rev: "r2"))
        let afterBackup = record(data: nil, localHash: "live")
        #expect(RestoreDecision.decide(local: local(content: "live"), remote: remote, record: afterBackup) == .sameData(rev: "r2"))
        #expect(RestoreDecision.decide(local: local(content: "other"), remote: remote, record: afterBackup) == .keepLocalChanges(rev: "r2"))
    }
}
