// The conflicts database beside the merged one: `<stem>.conflicts-<UTC time><ext>`, one table per
// source table (the columns of the source, plus which conflict and which version) and
// `entrypoint_conflicts` (what, where, why). Written complete under a temporary name, fsynced and
// renamed before the merged database is installed: a change set aside is never only in memory.
import CSQLite
import Glibc

enum ConflictStore {
    /// `/data/app.db` → `/data/app.conflicts-20261207T153000Z.db` (`-2`, `-3`... if taken).
    static func path(for db: String, stamp: String) -> String {
        let folder = FileIO.dirname(db)
        let name = FileIO.basename(db)
        var stem = Substring(name)
        var ext: Substring = ""
        if let dot = name.lastIndex(of: "."), dot != name.startIndex {
            stem = name[..<dot]
            ext = name[dot...]
        }
        var n = 1
        while true {
            let candidate = folder + "/" + stem + ".conflicts-" + stamp + (n > 1 ? "-\(n)" : "") + ext
            if !FileIO.exists(candidate) { return candidate }
            n += 1
        }
    }

    /// Writes `records` to a new conflicts database beside `db`; returns its path.
    static func write(_ records: [ConflictRecord], tables: [MergeTable], beside db: String, labels: MergeLabels) throws(EntrypointError) -> String {
        let target = path(for: db, stamp: Clock.utcStamp(compact: true))
        var temp = try FileIO.operation("create a temporary file in", FileIO.dirname(db)) { () throws(SystemError) in
            try FileIO.createTemporary(near: db, infix: ".entrypoint-conflicts-", mode: 0o600)
        }
        let tempPath = temp.path
        let descriptor = temp.descriptor
        descriptor.close()  // SQLite writes it through its own connection
        do {
            let out = try SQLite.Connection(tempPath, flags: SQLITE_OPEN_READWRITE)
            try out.exec("PRAGMA journal_mode=OFF; BEGIN")
            try out.exec(
                """
                CREATE TABLE entrypoint_conflicts(id INTEGER PRIMARY KEY, "table" TEXT NOT NULL, kind TEXT NOT NULL,
                  change TEXT NOT NULL, "key" TEXT NOT NULL, why TEXT NOT NULL, merged_at TEXT NOT NULL,
                  local TEXT NOT NULL, dropbox TEXT NOT NULL, base TEXT NOT NULL)
                """)
            var created: Set<String> = []
            let stamp = Clock.utcStamp()
            for (i, record) in records.enumerated() {
                try out.rows(
                    "INSERT INTO entrypoint_conflicts VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    [
                        .integer(Int64(i + 1)), .text(record.table), .text(record.kind.rawValue), .text(record.change.rawValue),
                        .text(record.key), .text(record.why), .text(stamp), .text(labels.ours), .text(labels.theirs), .text(labels.base),
                    ])
                let columns = tables.first { $0.name == record.table }?.columns ?? []
                if !created.contains(record.table) {
                    let list = columns.map(quoted).joined(separator: ", ")
                    try out.exec(
                        "CREATE TABLE \(quoted(record.table))(entrypoint_conflict INTEGER NOT NULL REFERENCES entrypoint_conflicts(id), entrypoint_version TEXT NOT NULL\(list.isEmpty ? "" : ", " + list))"
                    )
                    created.insert(record.table)
                }
                for (version, values) in record.rows where values.count == columns.count {
                    let marks = (0..<(columns.count + 2)).map { "?\($0 + 1)" }.joined(separator: ", ")
                    try out.rows("INSERT INTO \(quoted(record.table)) VALUES (\(marks))", [.integer(Int64(i + 1)), .text(version)] + values)
                }
            }
            try out.exec("COMMIT")
        }
        try FileIO.operation("write", tempPath) { () throws(SystemError) in
            let fd = try FileDescriptor.open(tempPath, O_RDONLY)
            try FileIO.fsync(fd.raw)
        }
        try FileIO.operation("rename \(tempPath) to", target) { () throws(SystemError) in try FileIO.rename(tempPath, target) }
        temp.removal.keep()
        try FileIO.operation("sync the directory", FileIO.dirname(db)) { () throws(SystemError) in try FileIO.fsyncDirectory(FileIO.dirname(db)) }
        return target
    }
}
