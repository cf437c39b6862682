// Foreign keys after the apply (they are off during it, so nothing cascades and no trigger of the
// app runs twice): a row one side deleted while the other added or changed a row pointing at it.
// The rule keeps both writes: the referenced row comes back (from THEIRS, else the base) and its
// deletion is set aside; a row pointing at a row neither side ever had is set aside itself.

extension MergeRepair {
    /// Settles PRAGMA foreign_key_check's rows, round by round (a restored row may need its own parent).
    func foreignKeys(_ handler: ConflictHandler) throws(EntrypointError) {
        for _ in 0..<32 {
            let violations = try connection.rows("PRAGMA main.foreign_key_check")
            if violations.isEmpty { return }
            for v in violations {
                guard case .text(let childName) = v[0], case .text(let parentName) = v[2], let fk = v[3].integer,
                    let child = table(childName), let parent = table(parentName)
                else { throw unsettled(violations) }
                if v[1] == .null && child.withoutRowid {
                    // A WITHOUT ROWID table has no rowid to name the row: found by its primary key.
                    for row in try violating(child, parent, fk) { try settle(child: child, row, parent: parent, fk: fk, handler) }
                } else {
                    guard v[1] != .null else { throw unsettled(violations) }
                    try settle(child: child, ChildRow(condition: "rowid = ?1", values: [v[1]], key: "rowid=\(v[1])"), parent: parent, fk: fk, handler)
                }
            }
        }
        throw unsettled(try connection.rows("PRAGMA main.foreign_key_check"))
    }

    func unsettled(_ violations: [[SQLValue]]) -> EntrypointError {
        let first = violations.first.map { "\($0[0]) row \($0[1]) references \($0[2])" } ?? "?"
        return EntrypointError(.mergeRefused, "the merged database fails PRAGMA foreign_key_check (\(first)); the merge was refused, nothing was changed")
    }

    /// One row of a child table: a condition on ?1... and its values; `key` names it in the record.
    struct ChildRow {
        let condition: String
        let values: [SQLValue]
        let key: String
    }

    /// The columns of foreign key `fk` of `child`, and the columns of `parent` they point at.
    func columns(of fk: Int64, _ child: MergeTable, _ parent: MergeTable) throws(EntrypointError) -> (from: [String], to: [String]) {
        let pairs = try connection.rows(
            "SELECT \"from\", \"to\" FROM pragma_foreign_key_list(?1, 'main') WHERE id = ?2 ORDER BY seq", [.text(child.name), .integer(fk)])
        let from = pairs.compactMap { if case .text(let s) = $0[0] { s } else { nil } }
        let to = pairs.enumerated().map { i, p in if case .text(let s) = p[1] { s } else { i < parent.primaryKey.count ? parent.primaryKey[i] : "rowid" } }
        return (from, to)
    }

    /// The rows of a WITHOUT ROWID `child` whose foreign key `fk` points at no row of `parent`
    /// (foreign_key_check reports them with a NULL rowid), by primary key.
    func violating(_ child: MergeTable, _ parent: MergeTable, _ fk: Int64) throws(EntrypointError) -> [ChildRow] {
        let (from, to) = try columns(of: fk, child, parent)
        let set = from.map { "c.\(quoted($0)) IS NOT NULL" }.joined(separator: " AND ")
        let match = zip(from, to).map { "p.\(quoted($1)) = c.\(quoted($0))" }.joined(separator: " AND ")
        let keys = try connection.rows(
            "SELECT \(child.primaryKey.map { "c." + quoted($0) }.joined(separator: ", ")) FROM main.\(quoted(child.name)) c WHERE \(set) AND NOT EXISTS (SELECT 1 FROM main.\(quoted(parent.name)) p WHERE \(match))"
        )
        return keys.map { values in
            let names = zip(child.primaryKey, values).map { "\($0)=\($1)" }
            return ChildRow(condition: keyCondition(child), values: values, key: names.count == 1 ? names[0] : "(" + names.joined(separator: ", ") + ")")
        }
    }

    func settle(child: MergeTable, _ at: ChildRow, parent: MergeTable, fk: Int64, _ handler: ConflictHandler) throws(EntrypointError) {
        let (from, to) = try columns(of: fk, child, parent)
        guard
            let values = try connection.rows(
                "SELECT \(from.map(quoted).joined(separator: ", ")) FROM main.\(quoted(child.name)) WHERE \(at.condition)", at.values
            ).first,
            let childRow = try connection.rows("SELECT \(columnList(child)) FROM main.\(quoted(child.name)) WHERE \(at.condition)", at.values).first
        else { return }
        let match = to.enumerated().map { "\(quoted($0.element)) IS ?\($0.offset + 1)" }.joined(separator: " AND ")
        let description = zip(to, values).map { "\($0)=\($1)" }.joined(separator: ", ")
        // A row restored earlier in this round (another foreign key of the same child, or another
        // child of the same parent) may already have settled this violation.
        if try !connection.rows("SELECT 1 FROM main.\(quoted(parent.name)) WHERE \(match) LIMIT 1", values).isEmpty { return }
        var blocked = false
        for schema in [MergeSchemas.theirs, MergeSchemas.base] {
            guard let back = try connection.rows("SELECT \(columnList(parent)) FROM \(schema).\(quoted(parent.name)) WHERE \(match)", values).first
            else { continue }
            // The row cannot come back (its key or a UNIQUE value is now another row's, e.g. a row
            // of THEIRS set aside for a UNIQUE collision): its child is set aside instead.
            guard try copyBack(parent, from: schema, where: match, values) else {
                blocked = true
                break
            }
            handler.records.append(
                ConflictRecord(
                    table: parent.name, kind: .foreignKey, change: .delete, key: description,
                    why: "deleted on one side while \(child.name) rows of the other side still point at it: the row stays, its deletion is set aside",
                    rows: [("deleted", back)]))
            return
        }
        try connection.rows("DELETE FROM main.\(quoted(child.name)) WHERE \(at.condition)", at.values)
        let why =
            blocked
            ? "points at \(parent.name) (\(description)), which cannot come back: its key or a UNIQUE value now belongs to another row; the row is set aside"
            : "points at \(parent.name) (\(description)), which neither side has: the row is set aside"
        handler.records.append(
            ConflictRecord(
                table: child.name, kind: .foreignKey, change: .insert, key: at.key, why: why, rows: [("merged", childRow)]))
    }
}
