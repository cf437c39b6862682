// --check and --hash against the fake Dropbox.
import Foundation
import TestSupport
import Testing

@Suite struct CheckAndHashTests {
    @Test func checkSaysWhatARestoreWouldDoAndChangesNothing() throws {
        let w = try World()
        try w.publish(["remote"])
        let r = try run(["--check"], env: w.env(w.refreshEnv, token: nil))
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stdout.contains("credentials: token refresh OK"))
        #expect(r.stdout.contains("would download rev"))
        #expect(r.stdout.contains("RAILWAY_DB_PATH = \(w.db)"))
        #expect(r.stdout.contains("DROPBOX_APP_SECRET = (set, redacted)"))
        #expect(!FileManager.default.fileExists(atPath: w.db))
        #expect(w.fake.requests("files/download").isEmpty)
        #expect(try run([], env: w.env()).status == 0)
        let warm = try run(["--check"], env: w.env())
        #expect(warm.stdout.contains("no download needed (hash match)"), "\(warm.output)")
    }

    @Test func checkWithBadCredentialsFails() throws {
        let w = try World()
        try w.publish(["remote"])
        var env = w.env(w.refreshEnv, token: nil)
        env["DROPBOX_APP_SECRET"] = "TEST-WRONG-SECRET-0000"
        let r = try run(["--check"], env: env)
        #expect(r.status == 77, "\(r.output)")
        #expect(r.stdout.contains("result: FAIL"))
        #expect(!r.output.contains("TEST-WRONG-SECRET-0000"))
        let expired = try run(["--check"], env: w.env(token: Secrets.expiredToken))
        #expect(expired.status == 77)
    }

    @Test func hashModeMatchesTheVectors() throws {
        let dir = TempDir()
        let vectors: [(Int, String)] = [
            (0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            (1, "1cd6ef71e6e0ff46ad2609d403dc3fee244417089aa4461245a4e4fe23a55e42"),
            (4_194_304, "d4d63bac5b866c71620185392a8a6218ac1092454a2d16f820363b69852befa3"),
        ]
        var files: [String] = []
        for (n, _) in vectors {
            let f = dir.file("a\(n)")
            try Data(repeating: 65, count: n).write(to: URL(fileURLWithPath: f))
            files.append(f)
        }
        let r = try run(["--hash"] + files, env: [:])
        #expect(r.status == 0)
        for ((_, hash), file) in zip(vectors, files) { #expect(r.stdout.contains("\(hash)  \(file)")) }
        let missing = try run(["--hash", dir.file("missing")], env: [:])
        #expect(missing.status == 74 && missing.stderr.contains("cannot hash"))
    }

    @Test func hashModeAgreesWithTheFakeServersContentHash() throws {
        let w = try World()
        let source = try w.publish(["x"], padding: 5_000_000)
        #expect(try run([], env: w.env()).status == 0)
        let r = try run(["--hash", source], env: [:])
        let record = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: w.db + ".entrypoint.json"))) as? [String: Any])
        #expect(r.stdout.hasPrefix(record["content_hash"] as? String ?? "?"))
    }
}
