// Before anything is merged: the three schemas must be the same (sessions carry no schema and
// match columns by position), and each table is classified: merged row by row through sessions,
// or (no primary key, generated columns, NULL keys, virtual) only taken whole when one side alone
// changed it. Everything else is refused as a whole with one line naming the table.

/// A table as the merge sees it.
struct MergeTable: Equatable, Sendable {
    let name: String
    /// The stored columns (generated columns excluded), in order.
    let columns: [String]
    /// The primary key's columns, in key order (empty: no primary key).
    let primaryKey: [String]
    /// A single INTEGER primary key column: the key a re-key may change.
    let integerKey: String?
    let withoutRowid: Bool
    /// Sessions can diff and apply it (a primary key, no generated column, no NULL in the key).
    var rowByRow: Bool
    let isVirtual: Bool
}

/// The schema names the merge attaches: main is OURS (a copy of it, merged in place).
enum MergeSchemas {
    static let ours = "main", base = "base", theirs = "theirs"
}

struct MergeSchema {
    let connection: SQLite.Connection
    /// How the log names OURS, the base and THEIRS.
    let labels: MergeLabels

    /// The tables, after checking that base, ours and theirs have the same schema.
    func tables() throws(EntrypointError) -> [MergeTable] {
        let base = try objects(MergeSchemas.base)
        for (schema, label) in [(MergeSchemas.ours, labels.ours), (MergeSchemas.theirs, labels.theirs)] {
            let other = try objects(schema)
            if other != base { throw changed(base, other, label) }
        }
        let list = try connection.rows(
            "SELECT name, type, wr FROM pragma_table_list WHERE schema = 'main' AND type IN ('table', 'virtual') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
        )
        var tables: [MergeTable] = []
        for row in list {
            guard case .text(let name) = row[0] else { continue }
            tables.append(try table(name, isVirtual: row[1] == .text("virtual"), withoutRowid: row[2] == .integer(1)))
        }
        return tables
    }

    /// Every schema object but SQLite's own: type, name, table, SQL text.
    func objects(_ schema: String) throws(EntrypointError) -> [[SQLValue]] {
        try connection.rows(
            "SELECT type, name, tbl_name, coalesce(sql, '') FROM \(quoted(schema)).sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY type, name"
        )
    }

    func changed(_ base: [[SQLValue]], _ other: [[SQLValue]], _ label: String) -> EntrypointError {
        func described(_ rows: [[SQLValue]]) -> [String: String] {
            var map: [String: String] = [:]
            for row in rows { map["\(row[0]) \(row[1])"] = "\(row[2]) \(row[3])" }
            return map
        }
        let a = described(base)
        let b = described(other)
        let name = Set(a.keys).union(b.keys).sorted().first { a[$0] != b[$0] } ?? "the schema"
        let what = a[name] == nil ? "added" : b[name] == nil ? "removed" : "changed"
        let object = name.replacingAll("'", with: "")
        return EntrypointError(
            .mergeRefused,
            "\(object): \(what) in \(label) since the base \(labels.base); a merge needs the same schema on both sides; the merge was refused, nothing was changed"
        )
    }

    func table(_ name: String, isVirtual: Bool, withoutRowid: Bool) throws(EntrypointError) -> MergeTable {
        let info = try connection.rows("SELECT name, upper(type), pk, hidden FROM pragma_table_xinfo(?1, 'main') ORDER BY cid", [.text(name)])
        var columns: [String] = []
        var keyed: [(Int64, String, String)] = []
        var generated = false
        for row in info {
            guard case .text(let column) = row[0], case .text(let type) = row[1] else { continue }
            let hidden = row[3].integer ?? 0
            if hidden == 2 || hidden == 3 {
                generated = true
                continue
            }
            if hidden != 0 { continue }  // a virtual table's hidden column
            columns.append(column)
            if let pk = row[2].integer, pk > 0 { keyed.append((pk, column, type)) }
        }
        let key = keyed.sorted { $0.0 < $1.0 }.map(\.1)
        let integerKey = keyed.count == 1 && keyed[0].2 == "INTEGER" ? keyed[0].1 : nil
        var rowByRow = !isVirtual && !key.isEmpty && !generated
        if rowByRow && integerKey == nil {
            // Rows with a NULL in the key are skipped by sessions without a word: such a table is
            // merged only whole.
            let nulls = key.map { "\(quoted($0)) IS NULL" }.joined(separator: " OR ")
            for schema in [MergeSchemas.base, MergeSchemas.ours, MergeSchemas.theirs] where !nulls.isEmpty {
                if try !connection.rows("SELECT 1 FROM \(quoted(schema)).\(quoted(name)) WHERE \(nulls) LIMIT 1").isEmpty { rowByRow = false }
            }
        }
        return MergeTable(
            name: name, columns: columns, primaryKey: key, integerKey: integerKey, withoutRowid: withoutRowid,
            rowByRow: rowByRow, isVirtual: isVirtual)
    }

    /// Whether `schema`'s rows of `table` differ from the base's (as multisets of rows).
    func differs(_ table: MergeTable, _ schema: String) throws(EntrypointError) -> Bool {
        let cols = table.columns.map(quoted).joined(separator: ", ")
        func grouped(_ s: String) -> String { "SELECT \(cols), count(*) FROM \(quoted(s)).\(quoted(table.name)) GROUP BY \(cols)" }
        let sql =
            "SELECT 1 FROM (\(grouped(schema)) EXCEPT \(grouped(MergeSchemas.base))) UNION ALL SELECT 1 FROM (\(grouped(MergeSchemas.base)) EXCEPT \(grouped(schema))) LIMIT 1"
        return try !connection.rows(sql).isEmpty
    }
}

/// How the log names the three inputs: `the local database /data/app.db`, `Dropbox's file (rev 5f3a...)`.
public struct MergeLabels: Sendable {
    public var ours: String
    public var base: String
    public var theirs: String

    public init(ours: String, base: String, theirs: String) {
        self.ours = ours
        self.base = base
        self.theirs = theirs
    }
}
