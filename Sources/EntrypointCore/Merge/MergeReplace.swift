// THEIRS' row for a key both sides inserted with different values (a text or composite key; an
// INTEGER key was re-keyed before the apply): OMITted during the apply and written here. SQLite's
// REPLACE would delete OURS' row first and, when THEIRS' row then breaks a UNIQUE constraint
// against another row, leave neither in the database. Here the swap runs in a savepoint: THEIRS'
// row stays and OURS' is set aside (the rule), or, when THEIRS' row breaks a constraint, OURS' row
// stays and THEIRS' is set aside instead (the CONSTRAINT rule).

extension MergeRepair {
    func replace(_ handler: ConflictHandler) throws(EntrypointError) {
        for (name, key, index) in handler.replacements {
            guard let table = table(name) else { continue }
            try connection.exec("SAVEPOINT entrypoint_replace")
            do throws(EntrypointError) {
                try connection.rows("DELETE FROM main.\(quoted(table.name)) WHERE \(keyCondition(table))", key)
                try connection.rows(
                    "INSERT INTO main.\(quoted(table.name)) (\(columnList(table))) SELECT \(columnList(table)) FROM \(MergeSchemas.theirs).\(quoted(table.name)) WHERE \(keyCondition(table))",
                    key)
                try connection.exec("RELEASE entrypoint_replace")
            } catch {
                guard lastWasConstraint else { throw error }  // the merge's transaction is rolled back
                try connection.exec("ROLLBACK TO entrypoint_replace; RELEASE entrypoint_replace")
                let theirs = try row(MergeSchemas.theirs, table, key)
                handler.records[index] = ConflictRecord(
                    table: name, kind: .constraint, change: .insert, key: handler.records[index].key,
                    why: MergeRules.why(.theirsSetAside, .constraint), rows: theirs.map { [("dropbox", $0)] } ?? [])
            }
        }
    }
}
