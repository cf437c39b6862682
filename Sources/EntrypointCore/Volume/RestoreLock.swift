// The restore lock: an exclusive flock on <db>.entrypoint.lock, taken by restores and backups.
import CShims
import Glibc

/// An exclusive flock on `<db>.entrypoint.lock`, serialising restores on one volume.
final class RestoreLock {
    /// Closed when the lock is destroyed (on every path out of `init` too): closing releases the flock.
    private let file: FileDescriptor
    let path: String

    /// `deadlineName`: the deadline as the timeout line names it (a backup's is not the restore's).
    init(database: String, timeout: Double, deadline: Double, deadlineName: String = "the restore deadline (ENTRYPOINT_DEADLINE)", log: Logger) throws(EntrypointError) {
        path = database + ".entrypoint.lock"
        let path = path
        file = try FileIO.operation("create the lock file", path) { () throws(SystemError) in
            try FileDescriptor.open(path, O_RDWR | O_CREAT, 0o644)
        }
        let fd = file.raw
        let giveUp = min(Clock.now() + timeout, deadline)
        var announced = false
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let err = errno
            guard err == EWOULDBLOCK || err == EINTR else {
                throw localError("lock", path, err, call: "flock")
            }
            if !announced {
                log.info("another start is restoring on this volume; waiting for it (lock \(path), up to \(timeout.clean)s)")
                announced = true
            }
            if ep_signal_pending() != 0 {
                throw EntrypointError(signal: ep_signal_pending())
            }
            if Clock.now() >= giveUp {
                let limit = Clock.now() >= deadline ? "until \(deadlineName)" : "for more than \(timeout.clean)s (ENTRYPOINT_LOCK_TIMEOUT)"
                throw EntrypointError(.lockTimeout, "another start held the restore lock \(path) \(limit); nothing was changed")
            }
            if !Clock.sleep(0.1) { continue }  // woken by a stop signal: handled on the next turn
        }
        if announced { log.info("the other start finished; checking again") }
    }
}
