// ENTRYPOINT_APP_USER, after the restore and before the app starts: the database's directory and
// the files the app must write (the database, -wal, -shm, -journal) are given to the app's user.
// The app also needs to create sidecars in the directory, hence the directory too. entrypoint's
// own files (the record, the lock, kept .local- copies, temporaries) stay root's: the app never
// needs them. SQLite running as root (the restore's checkpoint, the backup workers) gives a
// -wal, -shm or -journal it creates to the database file's owner (os_unix.c, robustFchown), so
// the app can still write them afterwards.
import Glibc

enum AppOwnership {
    static let sidecars = ["", "-wal", "-shm", "-journal"]

    /// Creates the directory when missing (the app cannot), then chowns it and the files that
    /// exist. Names are changed with AT_SYMLINK_NOFOLLOW: a symlink the app left in place of a
    /// sidecar is changed itself, never the file it points to. Files already owned are not touched
    /// (a chown changes ctime, which the supervisor's fingerprint compares).
    static func give(_ database: String, to user: AppUser, log: Logger) throws(EntrypointError) {
        let dir = FileIO.dirname(database)
        let base = FileIO.basename(database)
        func fail(_ action: String, _ path: String, _ err: Int32) -> EntrypointError {
            EntrypointError(
                .appUser, "cannot switch to ENTRYPOINT_APP_USER=\(user.spec): cannot \(action) \(path): \(errnoText(err))",
                cause: .system(call: action, errno: err))
        }
        guard dir != "/" else {
            throw EntrypointError(
                .appUser,
                "cannot switch to ENTRYPOINT_APP_USER=\(user.spec): the database's directory is /, which would be given to the app's user; put the database in a directory of its own (RAILWAY_DB_PATH=/app/data/database/production.db)"
            )
        }
        do throws(SystemError) {
            try FileIO.makeDirectories(dir)
        } catch {
            throw fail("create the directory", dir, error.errno)
        }
        let directory: FileDescriptor
        do throws(SystemError) {
            directory = try FileDescriptor.open(dir, O_RDONLY | O_DIRECTORY)
        } catch {
            throw fail("open the directory", dir, error.errno)
        }
        var changed: [String] = []
        var st = stat()
        guard fstat(directory.raw, &st) == 0 else { throw fail("stat", dir, errno) }
        if st.st_uid != user.uid || st.st_gid != user.gid {
            guard fchown(directory.raw, uid_t(user.uid), gid_t(user.gid)) == 0 else { throw fail("chown", dir, errno) }
            changed.append(dir)
        }
        for suffix in sidecars {
            let name = base + suffix
            if fstatat(directory.raw, name, &st, AT_SYMLINK_NOFOLLOW) != 0 {
                if errno == ENOENT { continue }
                throw fail("stat", dir + "/" + name, errno)
            }
            if st.st_uid == user.uid && st.st_gid == user.gid { continue }
            guard fchownat(directory.raw, name, uid_t(user.uid), gid_t(user.gid), AT_SYMLINK_NOFOLLOW) == 0 else {
                throw fail("chown", dir + "/" + name, errno)
            }
            changed.append(name)
        }
        if changed.isEmpty {
            log.debug("\(dir) and the database's files already belong to ENTRYPOINT_APP_USER=\(user.spec) (\(user.uid):\(user.gid))")
        } else {
            log.info("gave \(changed.joined(separator: ", ")) to ENTRYPOINT_APP_USER=\(user.spec) (\(user.uid):\(user.gid))")
        }
    }
}
