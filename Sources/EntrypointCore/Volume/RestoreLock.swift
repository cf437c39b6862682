// The restore lock: an exclusive flock on <db>.entrypoint.lock, taken by restores and backups.
import CShims
import Glibc

/// An exclusive flock on `<db>.entrypoint.lock`, serialising restores on one volume.
final class RestoreLock {
    /// Closed when the lock is destroyed (on every path out of `init` too): closing releases the flock.
    private let file: FileDescriptor
    let path: String

    /// `deadline`: the run's, as its lines name it (a backup's is not the restore's). A backup's lines
    /// say that the backup waits; the holder may be a start restoring or another backup.
    init(database: String, timeout: Double, deadline: Deadline, log: Logger) throws(EntrypointError) {
        path = database + ".entrypoint.lock"
        let path = path
        file = try FileIO.operation("create the lock file", path) { () throws(SystemError) in
            try FileDescriptor.open(path, O_RDWR | O_CREAT, 0o644)
        }
        let fd = file.raw
        let giveUp = min(Clock.now() + timeout, deadline.instant)
        let restore = deadline.name == .restore
        var announced = false
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let err = errno
            guard err == EWOULDBLOCK || err == EINTR else {
                throw localError("lock", path, err, call: "flock")
            }
            if !announced {
                let who =
                    restore
                    ? "another start is restoring on this volume; waiting for it" : "another start or backup holds this volume's lock; this backup waits for it"
                // The bound that ends the wait: the lock timeout, or the run's deadline when it is sooner.
                let bound = deadline.instant < Clock.now() + timeout ? "until \(deadline)" : "up to \(timeout.clean)s"
                log.info("\(who) (lock \(path), \(bound))")
                announced = true
            }
            try Signals.throwIfPending()
            if Clock.now() >= giveUp {
                let limit = Clock.now() >= deadline.instant ? "until \(deadline)" : "for more than \(timeout.clean)s (ENTRYPOINT_LOCK_TIMEOUT)"
                let held = restore ? "another start held the restore lock" : "another start or backup held this volume's lock"
                throw EntrypointError(.lockTimeout, "\(held) \(path) \(limit); nothing was changed")
            }
            if !Clock.sleep(0.1) { continue }  // woken by a stop signal: handled on the next turn
        }
        if announced { log.info(restore ? "the other start finished; checking again" : "the lock is free; the backup goes on") }
    }
}
