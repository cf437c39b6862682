// The supervision settings and `--backup --auto`.
import Testing

@testable import EntrypointCore

@Suite struct SupervisorSettingsTests {
    func config(_ env: [String: String]) throws(EntrypointError) -> Configuration { try Configuration(environment: env) }
    let token = ["DROPBOX_ACCESS_TOKEN": "sl.unit-test-token"]

    @Test func intervalTakesSecondsOrAUnit() throws {
        #expect(try config([:]).backupInterval == nil)
        #expect(try config(["ENTRYPOINT_BACKUP_INTERVAL": "0"]).backupInterval == nil)
        #expect(try config(["ENTRYPOINT_BACKUP_INTERVAL": "1"]).backupInterval == 1)
        #expect(try config(["ENTRYPOINT_BACKUP_INTERVAL": "90s"]).backupInterval == 90)
        #expect(try config(["ENTRYPOINT_BACKUP_INTERVAL": "5m"]).backupInterval == 300)
        #expect(try config(["ENTRYPOINT_BACKUP_INTERVAL": "1h"]).backupInterval == 3600)
        #expect(try config(["ENTRYPOINT_BACKUP_INTERVAL": "1.5m"]).backupInterval == 90)
    }

    @Test(arguments: ["abc", "5x", "-1", "0.5", "m", "1d", "+5", "8d", "nan"])
    func invalidIntervalIsAConfigurationErrorNamingTheVariable(value: String) {
        #expect {
            try Configuration(environment: ["ENTRYPOINT_BACKUP_INTERVAL": value])
        } throws: { error in
            let e = error as? EntrypointError
            return e?.code == .config && e?.message.contains("ENTRYPOINT_BACKUP_INTERVAL=\(value)") == true
        }
    }

    @Test func onStopIsAFlagAndEitherSettingSupervises() throws {
        #expect(try !config(token).supervises)
        #expect(try config(token.merging(["ENTRYPOINT_BACKUP_ON_STOP": "1"]) { $1 }).supervises)
        #expect(try config(token.merging(["ENTRYPOINT_BACKUP_ON_STOP": "yes"]) { $1 }).backupOnStop)
        #expect(try !config(token.merging(["ENTRYPOINT_BACKUP_ON_STOP": "off"]) { $1 }).supervises)
        #expect(try config(token.merging(["ENTRYPOINT_BACKUP_INTERVAL": "5m"]) { $1 }).supervises)
        // Nothing to back up with: no supervision, the command is exec'd as always.
        #expect(try !config(["ENTRYPOINT_BACKUP_ON_STOP": "1", "ENTRYPOINT_BACKUP_INTERVAL": "5m"]).supervises)
        #expect {
            try Configuration(environment: ["ENTRYPOINT_BACKUP_ON_STOP": "maybe"])
        } throws: { ($0 as? EntrypointError)?.message.contains("ENTRYPOINT_BACKUP_ON_STOP=maybe") == true }
    }

    @Test func stopDeadlineDefaultsFollowRailwaysDrainingWindow() throws {
        #expect(try config([:]).stopDeadline == 30)
        #expect(try config(["RAILWAY_DEPLOYMENT_DRAINING_SECONDS": "0"]).stopDeadline == 30)
        #expect(try config(["RAILWAY_DEPLOYMENT_DRAINING_SECONDS": "60"]).stopDeadline == 58)
        #expect(try config(["RAILWAY_DEPLOYMENT_DRAINING_SECONDS": "2"]).stopDeadline == 1)
        #expect(try config(["RAILWAY_DEPLOYMENT_DRAINING_SECONDS": "60", "ENTRYPOINT_STOP_DEADLINE": "20"]).stopDeadline == 20)
        #expect(try config(["ENTRYPOINT_STOP_DEADLINE": "1m"]).stopDeadline == 60)
        #expect {
            try Configuration(environment: ["ENTRYPOINT_STOP_DEADLINE": "0"])
        } throws: { ($0 as? EntrypointError)?.message.contains("ENTRYPOINT_STOP_DEADLINE=0") == true }
    }

    @Test func checkShowsTheSettings() throws {
        let rows = Dictionary(
            uniqueKeysWithValues: try config(
                token.merging([
                    "ENTRYPOINT_BACKUP_INTERVAL": "300", "ENTRYPOINT_BACKUP_ON_STOP": "1", "RAILWAY_DEPLOYMENT_DRAINING_SECONDS": "30",
                ]) { $1 }
            ).redactedSummary)
        #expect(rows["ENTRYPOINT_BACKUP_INTERVAL"] == "5m")
        #expect(rows["ENTRYPOINT_BACKUP_ON_STOP"] == "1")
        #expect(rows["ENTRYPOINT_STOP_DEADLINE"]?.hasPrefix("28s (RAILWAY_DEPLOYMENT_DRAINING_SECONDS=30") == true)
        #expect(rows["supervision"]?.hasPrefix("on") == true)
        let off = Dictionary(uniqueKeysWithValues: try config([:]).redactedSummary)
        #expect(off["ENTRYPOINT_BACKUP_INTERVAL"] == "off")
        #expect(off["supervision"] == nil)
    }

    @Test func autoOnlyWithBackup() throws {
        #expect(try Invocation(arguments: ["--backup", "--auto"]).mode == .backup(force: false, automatic: true, merge: true))
        #expect(try Invocation(arguments: ["--backup"]).mode == .backup(force: false, automatic: false))
        for args in [["--auto"], ["--auto", "app"], ["--check", "--auto"]] {
            #expect {
                try Invocation(arguments: args)
            } throws: { ($0 as? EntrypointError)?.code == .usage }
        }
    }

    @Test func exitStatusOfAWaitStatus() {
        #expect(Spawn.exitStatus(7 << 8) == 7)
        #expect(Spawn.exitStatus(0) == 0)
        #expect(Spawn.exitStatus(9) == 137)
        #expect(Spawn.exitStatus(15 | 0x80) == 143)  // core dumped flag
    }
}
