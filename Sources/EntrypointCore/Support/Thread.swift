// Threads, started in one place: a closure on a new pthread, joined by whoever started it (as
// swift-subprocess's Thread.swift does it; no Foundation, no Dispatch in the shipped binary).
// Named PosixThread: Foundation's `Thread`, which the tests import, would make `Thread` ambiguous.
import Glibc

/// A thread running a closure. Whoever starts it joins it, exactly once (`join`), before anything the
/// closure uses (a descriptor, a buffer) goes away.
struct PosixThread {
    private let id: pthread_t

    /// Starts `body` on a new thread. Throws when no thread can be had (pthread_create: EAGAIN at the
    /// thread limit or without memory); the caller then does the work another way (fewer workers,
    /// or on its own thread), and says so where that matters.
    static func start(_ body: @escaping @Sendable () -> Void) throws(SystemError) -> PosixThread {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        var id = pthread_t()
        let rc = pthread_create(
            &id, nil,
            { raw in
                Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue().run()
                return nil
            }, context)
        guard rc == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            throw SystemError(errno: rc, call: "pthread_create")
        }
        return PosixThread(id: id)
    }

    /// Waits for the closure to return.
    func join() {
        bestEffort("joining a thread we started and nobody else joins cannot fail", pthread_join(id, nil))
    }

    /// The closure, kept alive by the new thread until it has run.
    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }
}
