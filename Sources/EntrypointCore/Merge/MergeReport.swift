// What a merge did: THEIRS' changes taken per table, the rows re-keyed, the changes set aside.
// Written to the log line by line, and (the set-aside rows) to the conflicts database.

/// One row given a new key: ours inserted it with a key that theirs used for another row.
struct Rekey: Equatable, Sendable {
    let table: String
    let column: String
    let old: Int64
    let new: Int64
}

/// One change set aside in the conflicts database.
struct ConflictRecord: Equatable, Sendable {
    let table: String
    let kind: ConflictKind
    /// THEIRS' change: INSERT, UPDATE or DELETE.
    let change: Change.Op
    /// The primary key, as `id=101` or `(a=1, b='x')`.
    let key: String
    let why: String
    /// The version(s) set aside: `local`, `dropbox`, `local (deleted)`, `dropbox (deleted)`, with the row.
    var rows: [(version: String, values: [SQLValue])]

    static func == (a: ConflictRecord, b: ConflictRecord) -> Bool {
        a.table == b.table && a.kind == b.kind && a.change == b.change && a.key == b.key && a.why == b.why
            && a.rows.map(\.version) == b.rows.map(\.version) && a.rows.map(\.values) == b.rows.map(\.values)
    }
}

public struct MergeReport: Sendable {
    /// THEIRS' changes since the base, per table (what the merge brought in, before conflicts).
    var theirs: [String: ChangeCounts] = [:]
    /// Tables that sessions cannot merge row by row, taken whole from THEIRS (only THEIRS changed them).
    var wholeTables: [String] = []
    var rekeys: [Rekey] = []
    var conflicts: [ConflictRecord] = []
    /// Where the conflicts went (set once they are written).
    var conflictsPath: String?
    /// The pre-merge database, kept as `<db>.local-<UTC time>`.
    var keptCopy: String?

    /// Writes `lines()` to the log: re-keys and conflicts as warnings (an operator acts on them),
    /// the rest as information.
    func log(to log: Logger) {
        for line in lines() {
            if line.hasPrefix("merge: CONFLICT") || line.hasPrefix("merge: RE-KEYED") { log.warning(line) } else { log.info(line) }
        }
    }

    /// The log lines: one per table, re-key and conflict, then a summary.
    func lines() -> [String] {
        var out: [String] = []
        for table in theirs.keys.sorted() {
            let c = theirs[table]!
            out.append("merge: \(table): \(c.inserted) inserted, \(c.updated) updated, \(c.deleted) deleted since the base on the other side")
        }
        for table in wholeTables {
            out.append("merge: \(table): taken whole from the other side (no row-by-row merge for this table; only the other side changed it)")
        }
        for r in rekeys {
            out.append(
                "merge: RE-KEYED \(r.table) \(r.column)=\(r.old) -> \(r.new) (a local row whose key the other side used for another row; tell whoever holds number \(r.old))"
            )
        }
        for c in conflicts {
            let aside = c.rows.map(\.version).joined(separator: ", ")
            out.append("merge: CONFLICT \(c.kind.rawValue) \(c.table) \(c.key): \(c.why); set aside: \(aside)\(conflictsPath.map { " in \($0)" } ?? "")")
        }
        out.append(summary)
        return out
    }

    var summary: String {
        let taken = theirs.values.reduce(0) { $0 + $1.total }
        var line =
            "merge: \(taken) change\(taken == 1 ? "" : "s") taken from the other side, \(rekeys.count) row\(rekeys.count == 1 ? "" : "s") re-keyed, \(conflicts.count) conflict\(conflicts.count == 1 ? "" : "s") set aside"
        if let path = conflictsPath { line += " in \(path)" }
        return line
    }
}
