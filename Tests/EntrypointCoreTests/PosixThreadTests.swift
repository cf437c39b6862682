import Glibc
import Testing

@testable import EntrypointCore

/// `PosixThread`: the closure runs on another thread, and `join` returns only once it has returned
/// (the hashers close their descriptors after the join).
@Suite struct PosixThreadTests {
    final class Seen: @unchecked Sendable {
        var otherThread = false
        var done = false
    }

    @Test func runsTheClosureOnAnotherThreadAndJoinWaitsForIt() throws {
        let seen = Seen()
        let caller = pthread_self()
        let thread = try PosixThread.start {
            seen.otherThread = pthread_equal(pthread_self(), caller) == 0
            var ts = timespec(tv_sec: 0, tv_nsec: 200_000_000)
            _ = nanosleep(&ts, nil)
            seen.done = true
        }
        thread.join()
        #expect(seen.otherThread)
        #expect(seen.done)
    }

    @Test func manyThreadsEachRunOnce() throws {
        final class Counter: @unchecked Sendable {
            var mutex = pthread_mutex_t()
            var count = 0
            init() { pthread_mutex_init(&mutex, nil) }
            func add() {
                pthread_mutex_lock(&mutex)
                count += 1
                pthread_mutex_unlock(&mutex)
            }
        }
        let counter = Counter()
        let threads = try (0..<8).map { _ throws(SystemError) in try PosixThread.start { counter.add() } }
        for thread in threads { thread.join() }
        #expect(counter.count == 8)
    }
}
