// "May the database have changed?", decided cheaply from stat() alone, never by reading the file.
import Glibc

/// The identity and timestamps of `<db>` and `<db>-wal`. A commit changes the main file (rollback
/// journal) or the WAL (WAL mode), so it changes its size or its mtime/ctime (nanoseconds), or
/// replaces the file (device, inode). Equal fingerprints mean "unchanged"; the backup worker then
/// decides exactly by the data.
struct Fingerprint: Equatable {
    struct Part: Equatable {
        var device: UInt64 = 0, inode: UInt64 = 0, size: Int64 = 0
        var mtime: Int64 = 0, mtimeNanos: Int = 0, ctime: Int64 = 0, ctimeNanos: Int = 0

        init?(_ path: String) {
            guard let st = FileIO.statIfPresent(path) else { return nil }
            device = UInt64(st.st_dev)
            inode = UInt64(st.st_ino)
            size = Int64(st.st_size)
            mtime = Int64(st.st_mtim.tv_sec)
            mtimeNanos = Int(st.st_mtim.tv_nsec)
            ctime = Int64(st.st_ctim.tv_sec)
            ctimeNanos = Int(st.st_ctim.tv_nsec)
        }

        var newest: Double { max(Double(mtime) + Double(mtimeNanos) / 1e9, Double(ctime) + Double(ctimeNanos) / 1e9) }
    }

    let main: Part?
    let wal: Part?
    /// True when a part was modified so recently (within a file-timestamp tick) that a further
    /// write in the same tick would leave the same timestamps: such a fingerprint proves nothing
    /// (git's "racily clean" case), so it is never remembered as the clean state.
    let racy: Bool

    static let racyWindow = 0.05

    static func take(_ db: String) -> Fingerprint {
        let main = Part(db), wal = Part(db + "-wal")
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let now = Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        let newest = max(main?.newest ?? 0, wal?.newest ?? 0)
        return Fingerprint(main: main, wal: wal, racy: now - newest < racyWindow)
    }

    static func == (a: Fingerprint, b: Fingerprint) -> Bool { a.main == b.main && a.wal == b.wal }
}
