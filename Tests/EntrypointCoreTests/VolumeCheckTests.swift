// The Railway volume warning and the container hint, decided from the facts.
import Testing

@testable import EntrypointCore

@Suite struct VolumeCheckTests {
    let db = "/app/data/database/production.db"

    func finding(_ env: [String: String], container: Bool = true, root: Bool = true) -> VolumeCheck.Finding? {
        VolumeCheck.finding(db: db, environment: env, inContainer: container, onRootFileSystem: root)
    }

    @Test func onRailwayADatabaseOutsideTheVolumeIsAWarningNamingBothVariables() {
        guard case .railway(let none)? = finding(["RAILWAY_ENVIRONMENT": "production"]) else {
            Issue.record("no warning")
            return
        }
        #expect(none.contains("RAILWAY_ENVIRONMENT") && none.contains("RAILWAY_VOLUME_MOUNT_PATH") && none.contains("lost at the next deploy"))
        guard case .railway(let outside)? = finding(["RAILWAY_ENVIRONMENT": "production", "RAILWAY_VOLUME_MOUNT_PATH": "/data"]) else {
            Issue.record("no warning")
            return
        }
        #expect(outside.contains("RAILWAY_VOLUME_MOUNT_PATH=/data") && outside.contains(db))
        // A prefix that is not a directory boundary is not "under" it.
        #expect(finding(["RAILWAY_ENVIRONMENT": "p", "RAILWAY_VOLUME_MOUNT_PATH": "/app/da"]) != nil)
        #expect(finding(["RAILWAY_ENVIRONMENT": "p", "RAILWAY_VOLUME_MOUNT_PATH": "/app/data"]) == nil)
        #expect(finding(["RAILWAY_ENVIRONMENT": "p", "RAILWAY_VOLUME_MOUNT_PATH": "/app/data/"]) == nil)
    }

    @Test func elsewhereOnlyAContainerOnItsOwnFileSystemGetsTheHint() {
        guard case .containerLayer(let hint)? = finding([:]) else {
            Issue.record("no hint")
            return
        }
        #expect(hint.hasPrefix("hint: /app/data/database is on the container's own file system"))
        #expect(finding([:], container: false) == nil)
        #expect(finding([:], root: false) == nil)
    }
}
