// The conflict handler SQLite calls during the apply: it decides by MergeRules and records what
// is set aside. It never throws into C: a failure is stored and the apply aborted.
import CSQLite

final class ConflictHandler {
    let tables: [String: MergeTable]
    /// Set aside so far (rows restored after the apply are added by MergeRepair).
    var records: [ConflictRecord] = []
    /// Rows of THEIRS to restore after the apply (ours deleted them, theirs changed them).
    var restores: [(table: String, key: [SQLValue], record: Int)] = []
    /// UPDATEs set aside whose full THEIRS row is read after the apply.
    var pendingTheirs: [(table: String, key: [SQLValue], record: Int)] = []
    /// INSERTs of THEIRS whose key OURS inserted with other values: OMITted during the apply and
    /// written after it (MergeRepair.replace), where a failed replacement keeps OURS' row.
    var replacements: [(table: String, key: [SQLValue], record: Int)] = []
    /// DATA records (THEIRS' update written over OURS'), by table and key: SQLite calls again for
    /// the same change when it retries one that broke a constraint, and then reports CONSTRAINT.
    var dataRecords: [String: Int] = [:]
    var failure: EntrypointError?

    init(tables: [MergeTable]) {
        var map: [String: MergeTable] = [:]
        for t in tables { map[t.name] = t }
        self.tables = map
    }

    func handle(_ code: Int32, _ iterator: OpaquePointer) -> Int32 {
        guard let kind = ConflictKind(code: code) else { return SQLITE_CHANGESET_ABORT }
        if kind == .foreignKey { return SQLITE_CHANGESET_OMIT }  // off during the apply; checked after it
        guard let change = Change(iterator) else {
            failure = EntrypointError(.software, "cannot read a conflicting change during the merge")
            return SQLITE_CHANGESET_ABORT
        }
        var current: [SQLValue?]?
        if kind == .data || kind == .conflict {
            current = Change.values(iterator, Int32(change.primaryKey.count), sqlite3changeset_conflict)
        }
        let resolution = MergeRules.resolve(kind, change, current: current)
        let id = change.table + "\u{0}" + describeKey(change)
        if let earlier = dataRecords[id] {
            if kind == .data { return resolution.answer }  // the retry of a change already recorded
            if kind == .constraint {
                // THEIRS' update never made it over OURS' row: OURS' row stays, THEIRS' is set aside.
                records[earlier] = ConflictRecord(
                    table: change.table, kind: kind, change: change.op, key: describeKey(change), why: MergeRules.why(.theirsSetAside, kind), rows: [])
                pendingTheirs.append((change.table, change.key, earlier))
                dataRecords[id] = nil
                return SQLITE_CHANGESET_OMIT
            }
        }
        guard resolution.setsAside else { return resolution.answer }
        var record = ConflictRecord(
            table: change.table, kind: kind, change: change.op, key: describeKey(change), why: MergeRules.why(resolution, kind), rows: [])
        let index = records.count
        switch resolution {
        case .theirsKeptOursSetAside:
            record.rows.append(("local", (current ?? []).map { $0 ?? .null }))
            if kind == .data { dataRecords[id] = index }
        case .oursKeptTheirDeletionSetAside:
            record.rows.append(("dropbox (deleted)", change.old.map { $0 ?? .null }))
        case .theirsRestoredOurDeletionSetAside:
            restores.append((change.table, change.key, index))
        case .theirsSetAside:
            switch change.op {
            case .insert: record.rows.append(("dropbox", change.new.map { $0 ?? .null }))
            case .delete: record.rows.append(("dropbox (deleted)", change.old.map { $0 ?? .null }))
            case .update: pendingTheirs.append((change.table, change.key, index))
            }
        case .same: break
        }
        records.append(record)
        if kind == .conflict, resolution == .theirsKeptOursSetAside {
            // Not SQLite's REPLACE: it deletes OURS' row first and, when THEIRS' row then breaks a
            // UNIQUE constraint, neither stays in the database.
            replacements.append((change.table, change.key, index))
            return SQLITE_CHANGESET_OMIT
        }
        return resolution.answer
    }

    func describeKey(_ change: Change) -> String {
        let names = tables[change.table]?.primaryKey ?? []
        let values = change.key
        let parts = values.enumerated().map { i, v in (i < names.count ? names[i] : "key\(i + 1)") + "=" + v.description }
        return parts.count == 1 ? parts[0] : "(" + parts.joined(separator: ", ") + ")"
    }
}
