// After THEIRS' changes are applied to OURS: restore the rows one side changed and the other
// deleted, take whole the tables sessions cannot merge row by row, raise AUTOINCREMENT's counters,
// and settle every foreign key the two sides broke together; then the merged database must pass
// PRAGMA foreign_key_check and integrity_check.
import CSQLite

struct MergeRepair {
    let connection: SQLite.Connection
    let tables: [MergeTable]
    let labels: MergeLabels

    /// The table named `name`, in any case (SQLite's names are: `REFERENCES Customer` is `customer`,
    /// and foreign_key_check reports the parent as the REFERENCES clause spells it).
    func table(_ name: String) -> MergeTable? {
        tables.first { $0.name == name } ?? tables.first { $0.name.lowercased() == name.lowercased() }
    }

    func keyCondition(_ table: MergeTable, alias: String = "") -> String {
        table.primaryKey.enumerated().map { "\(alias)\(quoted($0.element)) IS ?\($0.offset + 1)" }.joined(separator: " AND ")
    }

    func columnList(_ table: MergeTable) -> String { table.columns.map(quoted).joined(separator: ", ") }

    func row(_ schema: String, _ table: MergeTable, _ key: [SQLValue]) throws(EntrypointError) -> [SQLValue]? {
        try connection.rows("SELECT \(columnList(table)) FROM \(schema).\(quoted(table.name)) WHERE \(keyCondition(table))", key).first
    }

    var lastWasConstraint: Bool { sqlite3_errcode(connection.db) & 0xFF == SQLITE_CONSTRAINT }

    /// Copies the row of `table` in `schema` that matches `condition` back into main, inside SQLite
    /// (not through Swift values: the row comes back byte for byte). False when a constraint refuses
    /// it (its key or a UNIQUE value is now another row's); any other failure throws.
    func copyBack(_ table: MergeTable, from schema: String, where condition: String, _ values: [SQLValue]) throws(EntrypointError) -> Bool {
        do throws(EntrypointError) {
            try connection.rows(
                "INSERT INTO main.\(quoted(table.name)) (\(columnList(table))) SELECT \(columnList(table)) FROM \(schema).\(quoted(table.name)) WHERE \(condition) LIMIT 1",
                values)
            return true
        } catch {
            guard lastWasConstraint else { throw error }
            return false
        }
    }

    /// The rows ours deleted and theirs changed: theirs' row comes back; ours' deletion is recorded.
    func restore(_ handler: ConflictHandler) throws(EntrypointError) {
        for (name, key, index) in handler.restores {
            guard let table = table(name) else { continue }
            if let deleted = try row(MergeSchemas.base, table, key) { handler.records[index].rows.append(("local (deleted)", deleted)) }
            guard let theirs = try row(MergeSchemas.theirs, table, key) else { continue }
            if try !copyBack(table, from: MergeSchemas.theirs, where: keyCondition(table), key) {
                handler.records[index].rows.append(("dropbox", theirs))
                handler.records[index] = ConflictRecord(
                    table: name, kind: .constraint, change: .update, key: handler.records[index].key,
                    why: MergeRules.why(.theirsSetAside, .constraint), rows: handler.records[index].rows)
            }
        }
        for (name, key, index) in handler.pendingTheirs {
            guard let table = table(name), let theirs = try row(MergeSchemas.theirs, table, key) else { continue }
            handler.records[index].rows.append(("dropbox", theirs))
        }
    }

    /// Tables merged only whole: taken from theirs when theirs alone changed them; refused when both did.
    func wholeTables(_ schema: MergeSchema) throws(EntrypointError) -> [String] {
        var taken: [String] = []
        for table in tables where !table.rowByRow {
            let ours = try schema.differs(table, MergeSchemas.ours)
            let theirs = try schema.differs(table, MergeSchemas.theirs)
            if table.isVirtual && (ours || theirs) {
                throw EntrypointError(
                    .mergeRefused,
                    "table \(table.name): a virtual table changed since the base (in \(ours ? labels.ours : labels.theirs)); sessions cannot merge virtual tables; the merge was refused, nothing was changed"
                )
            }
            guard theirs else { continue }
            if ours {
                let reason = table.primaryKey.isEmpty ? "it has no primary key" : "it has generated columns or rows with a NULL key"
                throw EntrypointError(
                    .mergeRefused,
                    "table \(table.name): changed on both sides since the base and \(reason), so its rows cannot be paired; the merge was refused, nothing was changed"
                )
            }
            let rowid = table.withoutRowid ? "" : "rowid, "
            try connection.exec("DELETE FROM main.\(quoted(table.name))")
            try connection.exec(
                "INSERT INTO main.\(quoted(table.name)) (\(rowid)\(columnList(table))) SELECT \(rowid)\(columnList(table)) FROM theirs.\(quoted(table.name))")
            taken.append(table.name)
        }
        return taken
    }

    /// AUTOINCREMENT's counters: the highest either side handed out (sessions never carry them).
    func sequences() throws(EntrypointError) {
        guard try !connection.rows("SELECT 1 FROM main.sqlite_schema WHERE name = 'sqlite_sequence'").isEmpty else { return }
        let theirs = try !connection.rows("SELECT 1 FROM theirs.sqlite_schema WHERE name = 'sqlite_sequence'").isEmpty
        let names = try connection.rows(
            "SELECT name, max(seq) FROM (SELECT name, seq FROM main.sqlite_sequence" + (theirs ? " UNION ALL SELECT name, seq FROM theirs.sqlite_sequence" : "")
                + ") GROUP BY name")
        for row in names {
            guard case .text(let name) = row[0], var seq = row[1].integer else { continue }
            if table(name)?.integerKey != nil, let top = try connection.rows("SELECT max(rowid) FROM main.\(quoted(name))").first?.first?.integer {
                seq = max(seq, top)
            }
            try connection.rows("DELETE FROM main.sqlite_sequence WHERE name = ?1", [.text(name)])
            try connection.rows("INSERT INTO main.sqlite_sequence (name, seq) VALUES (?1, ?2)", [.text(name), .integer(seq)])
        }
    }
}
