// ENTRYPOINT_STOP_GRACE and the stop deadline against Railway's draining window.
import Testing

@testable import EntrypointCore

@Suite struct StopSettingsTests {
    func settings(_ env: [String: String], onStop: Bool = true) throws(EntrypointError) -> StopSettings {
        try StopSettings.parse(env, backupOnStop: onStop)
    }

    @Test func graceDefaultsToHalfTheStopDeadlineWithAStopBackup() throws {
        #expect(try settings([:]).grace == 15)
        #expect(try settings(["RAILWAY_DEPLOYMENT_DRAINING_SECONDS": "60"]).grace == 29)
        #expect(try settings(["ENTRYPOINT_STOP_DEADLINE": "10"]).grace == 5)
        // Without a stop backup the app may use the whole deadline.
        #expect(try settings(["ENTRYPOINT_STOP_DEADLINE": "10"], onStop: false).grace == 10)
        #expect(try settings(["ENTRYPOINT_STOP_GRACE": "3s"]).grace == 3)
        #expect(try settings(["ENTRYPOINT_STOP_GRACE": "0"]).grace == 0)
        #expect(try Configuration(environment: ["ENTRYPOINT_STOP_GRACE": "1m", "ENTRYPOINT_STOP_DEADLINE": "2m"]).stopGrace == 60)
    }

    @Test func aGraceThatLeavesTheStopBackupNoTimeIsRefused() {
        #expect {
            try settings(["ENTRYPOINT_STOP_DEADLINE": "10", "ENTRYPOINT_STOP_GRACE": "10"])
        } throws: { error in
            let e = error as? EntrypointError
            return e?.code == .config && e?.message.contains("ENTRYPOINT_STOP_GRACE=10") == true && e?.message.contains("ENTRYPOINT_STOP_DEADLINE") == true
        }
        #expect(throws: EntrypointError.self) { try settings(["ENTRYPOINT_STOP_GRACE": "soon"]) }
    }

    @Test func aStopDeadlineLongerThanTheDrainingWindowIsRefused() throws {
        #expect {
            try Configuration(environment: ["RAILWAY_DEPLOYMENT_DRAINING_SECONDS": "30", "ENTRYPOINT_STOP_DEADLINE": "40"])
        } throws: { error in
            let e = error as? EntrypointError
            return e?.code == .config && e?.message.contains("ENTRYPOINT_STOP_DEADLINE=40") == true
                && e?.message.contains("RAILWAY_DEPLOYMENT_DRAINING_SECONDS=30") == true && e?.message.contains("at most 28s") == true
        }
        // Within the window (minus the 2 s to exit), or no draining to check against: accepted.
        #expect(try settings(["RAILWAY_DEPLOYMENT_DRAINING_SECONDS": "30", "ENTRYPOINT_STOP_DEADLINE": "28"]).deadline == 28)
        #expect(try settings(["RAILWAY_DEPLOYMENT_DRAINING_SECONDS": "0", "ENTRYPOINT_STOP_DEADLINE": "40"]).deadline == 40)
        #expect(try settings(["ENTRYPOINT_STOP_DEADLINE": "40"]).deadline == 40)
    }
}

@Suite struct FreeSpaceDecisionTests {
    @Test func aSnapshotMustLeaveTheReserveFree() throws {
        let mib: UInt64 = 1 << 20
        #expect(FreeSpace.shortfall(free: 100 * mib, database: 50 * mib, reserve: 16 * mib) == 0)
        #expect(FreeSpace.shortfall(free: 66 * mib, database: 50 * mib, reserve: 16 * mib) == 0)
        #expect(FreeSpace.shortfall(free: 60 * mib, database: 50 * mib, reserve: 16 * mib) == 6 * mib)
        #expect(FreeSpace.shortfall(free: 4 * mib, database: 6 * mib, reserve: 0) == 2 * mib)
        #expect(try Configuration(environment: [:]).backupReserve == 16 * mib)
    }
}
