// Whether the app runs a checkpoint that waits for this backup's reader. A WAL reader never blocks
// the app's commits, with one exception SQLite documents (sqlite3_wal_checkpoint_v2): a FULL,
// RESTART or TRUNCATE checkpoint takes the writer lock and then waits, for its busy timeout, until
// every reader reads the newest state (RESTART, TRUNCATE: reads the database file only); the app's
// commits wait behind it, and fail with "database is locked" after their own busy timeout. A
// streamed backup holds its read transaction for the whole upload (docs/design.md, "The streamed
// snapshot"), so it watches for that and gives way (BackupRun falls back to a copy). It also
// gives way when the volume's free space falls below ENTRYPOINT_BACKUP_RESERVE_MB: the WAL grows by
// the app's commits behind the read transaction, and the app's commits must never find the volume
// full because of a backup (`GiveWay`, below).
//
// The signs are SQLite's own locks on the `-shm` file (walformat.html: byte 120 is the writer lock,
// byte 121 the checkpoint lock): both held by another process means such a checkpoint is pending
// (a commit holds the writer lock only, an automatic PASSIVE checkpoint the checkpoint lock only).
// They are read from /proc/locks, never through a descriptor of our own: closing any descriptor of
// the file would drop this process's POSIX locks on it, SQLite's read lock included.
import Glibc

final class CheckpointWatch {
    /// The `-shm` file's inode: /proc/locks names files by device and inode.
    private let inode: UInt64?
    /// How long both locks must be seen held before the backup gives way (a FULL checkpoint that
    /// does not wait for this reader holds them only while it copies pages).
    let patience: Double
    /// Polls closer than this reuse the last answer (/proc/locks is read at most this often).
    static let interval = 0.05
    private var lastPoll = -Double.infinity
    private var heldSince: Double?

    init(database: String, patience: Double = 0.2) {
        inode = FileIO.statIfPresent(database + "-shm").map { UInt64($0.st_ino) }
        self.patience = patience
    }

    /// True once another process has held both the writer and the checkpoint lock of the WAL index
    /// for `patience` seconds.
    func appWaits(now: Double = Clock.now()) -> Bool {
        guard let inode else { return false }
        if now - lastPoll >= Self.interval {
            lastPoll = now
            let text = (try? FileIO.readSmallFile("/proc/locks", limit: 4 << 20)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            if Self.blockingCheckpoint(in: text, inode: inode, ourPID: Int(getpid())) {
                heldSince = heldSince ?? now
            } else {
                heldSince = nil
            }
        }
        guard let heldSince else { return false }
        return now - heldSince >= patience
    }

    /// Whether /proc/locks (`text`) shows another process holding write locks on bytes 120 and 121
    /// of the file with `inode`. A line: `1: POSIX  ADVISORY  WRITE 4242 00:2d:123456 120 120`
    /// (`->` after the number marks a request still waiting: not held).
    static func blockingCheckpoint(in text: String, inode: UInt64, ourPID: Int) -> Bool {
        var writer = false
        var checkpoint = false
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 8, fields[1] != "->", fields[3] == "WRITE", let pid = Int(fields[4]), pid != ourPID,
                let file = fields[5].split(separator: ":").last.flatMap({ UInt64($0) }), file == inode,
                let start = Int64(fields[6])
            else { continue }
            let end = fields[7] == "EOF" ? Int64.max : Int64(fields[7]) ?? start
            if start <= 120 && 120 <= end { writer = true }
            if start <= 121 && 121 <= end { checkpoint = true }
        }
        return writer && checkpoint
    }
}

/// When a streamed backup stops before its commit, ends its read transaction and copies instead:
/// the app's blocking checkpoint (CheckpointWatch), or less than `reserve` bytes free on the volume
/// (the WAL grows behind the read transaction). `reason` says which, for the log line.
final class GiveWay {
    let checkpoint: CheckpointWatch
    let database: String
    let reserve: UInt64
    private(set) var reason: String?
    private var lastFreeCheck = -Double.infinity

    init(database: String, reserve: UInt64) {
        checkpoint = CheckpointWatch(database: database)
        self.database = database
        self.reserve = reserve
    }

    /// Polled during the streamed upload's requests (every transfer's progress callback).
    func now() -> Bool {
        if reason != nil { return true }
        if checkpoint.appWaits() {
            reason = "the app started a checkpoint that waits for every reader (FULL, RESTART or TRUNCATE) while this backup streamed \(database)"
            return true
        }
        let t = Clock.now()
        guard t - lastFreeCheck >= CheckpointWatch.interval else { return false }
        lastFreeCheck = t
        if let free = FreeSpace.available(database), free < reserve {
            reason =
                "the volume of \(database) has \(Progress.bytes(free)) free, less than ENTRYPOINT_BACKUP_RESERVE_MB (\(Progress.bytes(reserve))), while the app's WAL grows behind this backup's read transaction"
            return true
        }
        return false
    }
}
