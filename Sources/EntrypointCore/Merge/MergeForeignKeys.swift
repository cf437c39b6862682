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
                try settle(child: child, rowid: v[1], parent: parent, fk: fk, handler)
            }
        }
        throw unsettled(try connection.rows("PRAGMA main.foreign_key_check"))
    }

    func unsettled(_ violations: [[SQLValue]]) -> EntrypointError {
        let first = violations.first.map { "\($0[0]) row \($0[1]) references \($0[2])" } ?? "?"
        return EntrypointError(.mergeRefused, "the merged database fails PRAGMA foreign_key_check (\(first)); the merge was refused, nothing was changed")
    }

    func settle(child: MergeTable, rowid: SQLValue, parent: MergeTable, fk: Int64, _ handler: ConflictHandler) throws(EntrypointError) {
        guard rowid != .null else { throw unsettled([[.text(child.name), rowid, .text(parent.name)]]) }
        let pairs = try connection.rows(
            "SELECT \"from\", \"to\" FROM pragma_foreign_key_list(?1, 'main') WHERE id = ?2 ORDER BY seq", [.text(child.name), .integer(fk)])
        let from = pairs.compactMap { if case .text(let s) = $0[0] { s } else { nil } }
        let to = pairs.enumerated().map { i, p in if case .text(let s) = p[1] { s } else { i < parent.primaryKey.count ? parent.primaryKey[i] : "rowid" } }
        guard let values = try connection.rows("SELECT \(from.map(quoted).joined(separator: ", ")) FROM main.\(quoted(child.name)) WHERE rowid = ?1", [rowid]).first,
            let childRow = try connection.rows("SELECT \(columnList(child)) FROM main.\(quoted(child.name)) WHERE rowid = ?1", [rowid]).first
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
            // Copied inside SQLite (not through Swift values): the row comes back byte for byte.
            do throws(EntrypointError) {
                try connection.rows(
                    "INSERT INTO main.\(quoted(parent.name)) (\(columnList(parent))) SELECT \(columnList(parent)) FROM \(schema).\(quoted(parent.name)) WHERE \(match) LIMIT 1",
                    values)
            } catch {
                // The row cannot come back (its key or a UNIQUE value is now another row's, e.g. a
                // row of THEIRS set aside for a UNIQUE collision): its child is set aside instead.
                guard lastWasConstraint else { throw error }
                blocked = true
                break
            }
            handler.records.append(ConflictRecord(
                table: parent.name, kind: .foreignKey, change: .delete, key: description,
                why: "deleted on one side while \(child.name) rows of the other side still point at it: the row stays, its deletion is set aside",
                rows: [("deleted", back)]))
            return
        }
        try connection.rows("DELETE FROM main.\(quoted(child.name)) WHERE rowid = ?1", [rowid])
        let why = blocked
            ? "points at \(parent.name) (\(description)), which cannot come back: its key or a UNIQUE value now belongs to another row; the row is set aside"
            : "points at \(parent.name) (\(description)), which neither side has: the row is set aside"
        handler.records.append(ConflictRecord(
            table: child.name, kind: .foreignKey, change: .insert, key: "rowid=\(rowid)", why: why, rows: [("merged", childRow)]))
    }
}
