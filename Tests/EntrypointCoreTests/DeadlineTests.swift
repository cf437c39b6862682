// A deadline is a named value: every line names it the same way, with the setting that set it, and
// a backup worker reads the deadline the supervisor gave it by name, never ENTRYPOINT_DEADLINE.
import Testing

@testable import EntrypointCore

@Suite struct DeadlineTests {
    func config(_ env: [String: String] = [:]) throws -> Configuration { try Configuration(environment: env) }

    @Test func eachDeadlineNamesItselfAndItsSetting() throws {
        #expect(Deadline.restore(try config()).description == "the 240s restore deadline (ENTRYPOINT_DEADLINE)")
        #expect(Deadline.long(.backup, try config(), [:]).description == "the 3600s backup deadline (ENTRYPOINT_DEADLINE unset: an hour for --backup)")
        let set = ["ENTRYPOINT_DEADLINE": "2"]
        #expect(Deadline.long(.backup, try config(set), set).description == "the 2s backup deadline (ENTRYPOINT_DEADLINE)")
        #expect(Deadline.long(.download, try config(), [:]).description == "the 3600s download deadline (ENTRYPOINT_DEADLINE unset: an hour for --download)")
        #expect(Deadline.stop(seconds: 3.5).description == "the 3.5s stop deadline (what was left of ENTRYPOINT_STOP_DEADLINE)")
    }

    @Test func theInstantCountsFromTheStart() {
        let d = Deadline(.backup, seconds: 12, setting: "ENTRYPOINT_DEADLINE", from: 100)
        #expect(d.instant == 112)
    }

    @Test func aWorkerReadsTheDeadlineItWasGiven() throws {
        let c = try config()
        let stop = try Deadline.forWorker(c, [Deadline.workerVariable: Deadline.stop(seconds: 12.3).workerValue])
        #expect(stop.name == .stop && stop.seconds == 12.3)
        #expect(stop.description == "the 12.3s stop deadline (what was left of ENTRYPOINT_STOP_DEADLINE)")
        let periodic = try Deadline.forWorker(c, [Deadline.workerVariable: Deadline.long(.backup, c, [:]).workerValue])
        #expect(periodic.description == "the 3600s backup deadline (ENTRYPOINT_DEADLINE unset: an hour for --backup)")
        // Without one (`--backup --auto` run by hand): --backup's own.
        #expect(try Deadline.forWorker(c, [:]).description == "the 3600s backup deadline (ENTRYPOINT_DEADLINE unset: an hour for --backup)")
    }

    @Test func aMalformedWorkerDeadlineIsAConfigurationError() throws {
        let c = try config()
        for value in ["12", "stop:", "stop:-1", "stop:0", "stop:inf", "stop:x", "restore:5"] {
            do {
                _ = try Deadline.forWorker(c, [Deadline.workerVariable: value])
                Issue.record("accepted \(value)")
            } catch {
                #expect(error.code == .config)
                #expect(error.message.contains("ENTRYPOINT_WORKER_DEADLINE=\(value)"), "\(error.message)")
            }
        }
    }
}
