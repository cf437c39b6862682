// The restore lock: an exclusive flock on <db>.entrypoint.lock, taken by restores and backups.
import CShims
import Glibc

/// An exclusive flock on `<db>.entrypoint.lock`, serialising restores on one volume.
final class RestoreLock {
    let fd: Int32
    let path: String

    init(database: String, timeout: Double, deadline: Double, log: Logger) throws(EntrypointError) {
        path = database + ".entrypoint.lock"
        do throws(SystemError) {
            fd = try FileIO.open(path, O_RDWR | O_CREAT, 0o644)
        } catch {
            throw localError("create the lock file", path, error.errno)
        }
        let giveUp = min(Clock.now() + timeout, deadline)
        var announced = false
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let err = errno
            guard err == EWOULDBLOCK || err == EINTR else {
                FileIO.close(fd)
                throw localError("lock", path, err)
            }
            if !announced {
                log.info("another start is restoring on this volume; waiting for it (lock \(path), up to \(timeout.clean)s)")
                announced = true
            }
            if ep_signal_pending() != 0 {
                FileIO.close(fd)
                throw EntrypointError(signal: ep_signal_pending())
            }
            if Clock.now() >= giveUp {
                FileIO.close(fd)
                let limit = Clock.now() >= deadline ? "until the restore deadline (ENTRYPOINT_DEADLINE)" : "for more than \(timeout.clean)s (ENTRYPOINT_LOCK_TIMEOUT)"
                throw EntrypointError(.lockTimeout, "another start held the restore lock \(path) \(limit); nothing was changed")
            }
            _ = Clock.sleep(0.1)
        }
        if announced { log.info("the other start finished; checking again") }
    }

    deinit { FileIO.close(fd) }  // closing releases the flock
}
