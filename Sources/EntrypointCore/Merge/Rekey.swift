// Re-keying, before THEIRS' changes are applied: a row OURS inserted under an INTEGER primary key
// that THEIRS used for a different row gets the next free key, and every column that references it
// through a declared foreign key follows. Only OURS' rows move: they never reached Dropbox, while a
// key that reached Dropbox never changes again (the next merge pairs rows by key).

struct Rekeyer {
    let connection: SQLite.Connection
    let tables: [MergeTable]

    /// Re-keys until no collision is left (a re-keyed parent makes its children differ in turn).
    func run() throws(EntrypointError) -> [Rekey] {
        var done: [Rekey] = []
        for _ in 0..<64 {
            var round: [Rekey] = []
            for table in tables where table.rowByRow {
                guard let key = table.integerKey else { continue }
                for old in try collisions(table, key) {
                    let new = try nextKey(table, key)
                    try move(table, key, from: old, to: new)
                    round.append(Rekey(table: table.name, column: key, old: old, new: new))
                }
            }
            if round.isEmpty { return done }
            done += round
        }
        throw EntrypointError(.software, "the merge kept finding keys to change after 64 rounds; nothing was changed")
    }

    /// Keys inserted on both sides (absent from the base) whose rows differ.
    func collisions(_ table: MergeTable, _ key: String) throws(EntrypointError) -> [Int64] {
        let t = quoted(table.name)
        let k = quoted(key)
        let same = table.columns.map { "o.\(quoted($0)) IS t.\(quoted($0))" }.joined(separator: " AND ")
        let sql = """
            SELECT o.\(k) FROM main.\(t) o JOIN theirs.\(t) t ON t.\(k) = o.\(k)
            WHERE NOT EXISTS (SELECT 1 FROM base.\(t) b WHERE b.\(k) = o.\(k)) AND NOT (\(same)) ORDER BY o.\(k)
            """
        return try connection.rows(sql).compactMap { $0[0].integer }
    }

    /// Above every key either side used or AUTOINCREMENT handed out, so neither site reuses it.
    func nextKey(_ table: MergeTable, _ key: String) throws(EntrypointError) -> Int64 {
        var parts: [String] = []
        for schema in [MergeSchemas.ours, MergeSchemas.theirs, MergeSchemas.base] {
            parts.append("SELECT max(\(quoted(key))) FROM \(schema).\(quoted(table.name))")
            if try hasSequence(schema) {
                parts.append("SELECT max(seq) FROM \(schema).sqlite_sequence WHERE name = \(SQLValue.text(table.name))")
            }
        }
        let rows = try connection.rows("SELECT max(coalesce(m, 0)) FROM (\(parts.map { "SELECT (\($0)) AS m" }.joined(separator: " UNION ALL ")))")
        let top = rows.first?.first?.integer ?? 0
        guard top < Int64.max else {
            throw EntrypointError(.mergeRefused, "table \(table.name): no free key above \(top); the merge was refused, nothing was changed")
        }
        return top + 1
    }

    func hasSequence(_ schema: String) throws(EntrypointError) -> Bool {
        try !connection.rows("SELECT 1 FROM \(schema).sqlite_schema WHERE name = 'sqlite_sequence'").isEmpty
    }

    /// Moves OURS' row and every reference to it (foreign keys are off: nothing cascades by itself).
    func move(_ table: MergeTable, _ key: String, from old: Int64, to new: Int64) throws(EntrypointError) {
        try connection.rows("UPDATE main.\(quoted(table.name)) SET \(quoted(key)) = ?1 WHERE \(quoted(key)) = ?2", [.integer(new), .integer(old)])
        for (child, column) in try references(to: table, key) {
            try connection.rows("UPDATE main.\(quoted(child)) SET \(quoted(column)) = ?1 WHERE \(quoted(column)) = ?2", [.integer(new), .integer(old)])
        }
    }

    /// The (table, column) pairs whose declared foreign key points at `table`'s key column.
    func references(to table: MergeTable, _ key: String) throws(EntrypointError) -> [(String, String)] {
        var result: [(String, String)] = []
        for child in tables where !child.isVirtual {
            let fks = try connection.rows(
                "SELECT \"from\", \"to\" FROM pragma_foreign_key_list(?1, 'main') WHERE \"table\" = ?2 COLLATE NOCASE",
                [.text(child.name), .text(table.name)])
            for fk in fks {
                guard case .text(let from) = fk[0] else { continue }
                if case .text(let to) = fk[1], to.lowercased() != key.lowercased() { continue }
                result.append((child.name, from))
            }
        }
        return result
    }
}
