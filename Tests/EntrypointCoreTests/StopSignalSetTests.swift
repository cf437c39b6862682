import Glibc
import Testing

@testable import EntrypointCore

/// The stop signals are one list (shims.c's `stop_signals`): Swift sees exactly TERM, INT, HUP and
/// QUIT through `Signals.stop`, a helper thread that blocks them blocks those four and nothing else,
/// and the supervisor sends the same four to the app's whole process group.
@Suite struct StopSignalSetTests {
    @Test func swiftSeesTheFourStopSignalsOfTheShim() {
        #expect(Signals.stop == [SIGTERM, SIGINT, SIGHUP, SIGQUIT])
        #expect(Signals.stop.map(Signals.name) == ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT"])
    }

    @Test func aHelperThreadBlocksExactlyTheStopSignals() throws {
        final class Mask: @unchecked Sendable {
            var result: Int32 = -1
            var blocked: [Int32] = []
        }
        let mask = Mask()
        // On a thread of its own, which starts from an empty mask (it inherits the test runner's):
        // the test process's other threads keep theirs.
        let thread = try PosixThread.start {
            var none = sigset_t()
            sigemptyset(&none)
            guard pthread_sigmask(SIG_SETMASK, &none, nil) == 0 else { return }
            mask.result = Signals.blockStopOnThisThread()
            var now = sigset_t()
            guard pthread_sigmask(SIG_BLOCK, nil, &now) == 0 else { return }
            mask.blocked = (1..<32).filter { sigismember(&now, $0) == 1 }
        }
        thread.join()
        #expect(mask.result == 0)
        #expect(mask.blocked == [SIGHUP, SIGINT, SIGQUIT, SIGTERM].sorted())
    }

    @Test func theSupervisorSendsTheStopSignalsToTheWholeGroup() {
        #expect(Supervisor.toGroup == [SIGTERM, SIGINT, SIGHUP, SIGQUIT])
    }
}
