// The C bindings of SQLite's session extension (Debian's libsqlite3 3.40.1 has it): the changes
// that turn one attached database's tables into another's (sqlite3session_diff), and their apply
// with a conflict handler (sqlite3changeset_apply). /work reference: sqlite-sessions.md.
import CSQLite

/// A changeset in SQLite's memory, freed with it.
final class Changeset {
    let bytes: UnsafeMutableRawPointer?
    let size: Int32

    init(bytes: UnsafeMutableRawPointer?, size: Int32) {
        self.bytes = bytes
        self.size = size
    }

    deinit { sqlite3_free(bytes) }

    /// The number of INSERTs, UPDATEs and DELETEs per table.
    func counts() throws(EntrypointError) -> [String: ChangeCounts] {
        var result: [String: ChangeCounts] = [:]
        guard size > 0 else { return result }
        var iterator: OpaquePointer?
        guard sqlite3changeset_start(&iterator, size, bytes) == SQLITE_OK else {
            throw EntrypointError(.software, "cannot read the merge's changeset")
        }
        while sqlite3changeset_next(iterator) == SQLITE_ROW {
            var table: UnsafePointer<CChar>?
            var columns: Int32 = 0
            var op: Int32 = 0
            var indirect: Int32 = 0
            guard sqlite3changeset_op(iterator, &table, &columns, &op, &indirect) == SQLITE_OK, let table else { continue }
            result[String(cString: table), default: ChangeCounts()].add(op)
        }
        let rc = sqlite3changeset_finalize(iterator)
        guard rc == SQLITE_OK else {
            throw EntrypointError(.software, "cannot read the merge's changeset: \(String(cString: sqlite3_errstr(rc)))")
        }
        return result
    }
}

/// How many rows a side inserted, updated and deleted in one table.
struct ChangeCounts: Equatable, Sendable {
    var inserted = 0, updated = 0, deleted = 0

    mutating func add(_ op: Int32) {
        switch op {
        case SQLITE_INSERT: inserted += 1
        case SQLITE_UPDATE: updated += 1
        default: deleted += 1
        }
    }

    var total: Int { inserted + updated + deleted }
}

enum Session {
    /// The changes that turn schema `from`'s tables into schema `to`'s, both attached to `connection`.
    /// Each table is attached to the session before its diff: in 3.40.1 a diff of a table that is
    /// not attached is a silent no-op.
    static func diff(_ connection: SQLite.Connection, from: String, to: String, tables: [String]) throws(EntrypointError) -> Changeset {
        var session: OpaquePointer?
        guard sqlite3session_create(connection.db, to, &session) == SQLITE_OK, let session else {
            throw EntrypointError(.software, "cannot create a SQLite session on \(to): \(connection.errorMessage)")
        }
        defer { sqlite3session_delete(session) }
        for table in tables {
            var message: UnsafeMutablePointer<CChar>?
            var rc = sqlite3session_attach(session, table)
            if rc == SQLITE_OK { rc = sqlite3session_diff(session, from, table, &message) }
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(message)
            guard rc == SQLITE_OK else {
                throw EntrypointError(.mergeRefused, "table \(table): cannot compare \(to) with \(from) (\(text)); the merge was refused, nothing was changed")
            }
        }
        var size: Int32 = 0
        var bytes: UnsafeMutableRawPointer?
        let rc = sqlite3session_changeset(session, &size, &bytes)
        guard rc == SQLITE_OK else {
            sqlite3_free(bytes)
            throw EntrypointError(.software, "cannot build the changes of \(to) since \(from): \(String(cString: sqlite3_errstr(rc)))")
        }
        return Changeset(bytes: bytes, size: size)
    }

    /// Applies `changeset` to `connection`'s main database; every conflict goes to `handler`, which
    /// decides (MergeRules) and records. The apply runs in its own savepoint inside the caller's
    /// transaction.
    static func apply(_ connection: SQLite.Connection, _ changeset: Changeset, handler: ConflictHandler) throws(EntrypointError) {
        guard changeset.size > 0 else { return }
        let onConflict: @convention(c) (UnsafeMutableRawPointer?, Int32, OpaquePointer?) -> Int32 = { context, kind, iterator in
            guard let context, let iterator else { return SQLITE_CHANGESET_ABORT }
            return Unmanaged<ConflictHandler>.fromOpaque(context).takeUnretainedValue().handle(kind, iterator)
        }
        let context = Unmanaged.passUnretained(handler).toOpaque()
        let rc = withExtendedLifetime(handler) {
            sqlite3changeset_apply(connection.db, changeset.size, changeset.bytes, nil, onConflict, context)
        }
        if let failure = handler.failure { throw failure }
        guard rc == SQLITE_OK else {
            throw EntrypointError(.software, "applying the changes to \(connection.path) failed: \(connection.errorMessage)")
        }
    }
}

/// One change as the conflict handler sees it, with its values copied out (nil: not in the change).
struct Change: Equatable, Sendable {
    enum Op: String, Sendable {
        case insert = "INSERT"
        case update = "UPDATE"
        case delete = "DELETE"
    }
    let table: String
    let op: Op
    /// Which columns form the primary key.
    let primaryKey: [Bool]
    let old: [SQLValue?]
    let new: [SQLValue?]

    /// The primary key's values (from the old row, or the new one for an INSERT).
    var key: [SQLValue] {
        let row = op == .insert ? new : old
        return zip(primaryKey, row).compactMap { $0.0 ? ($0.1 ?? .null) : nil }
    }

    init(table: String, op: Op, primaryKey: [Bool], old: [SQLValue?], new: [SQLValue?]) {
        self.table = table
        self.op = op
        self.primaryKey = primaryKey
        self.old = old
        self.new = new
    }

    /// Reads the iterator's current change.
    init?(_ iterator: OpaquePointer) {
        var name: UnsafePointer<CChar>?
        var count: Int32 = 0
        var code: Int32 = 0
        var indirect: Int32 = 0
        guard sqlite3changeset_op(iterator, &name, &count, &code, &indirect) == SQLITE_OK, let name else { return nil }
        var flags: UnsafeMutablePointer<UInt8>?
        var pkCount: Int32 = 0
        guard sqlite3changeset_pk(iterator, &flags, &pkCount) == SQLITE_OK, let flags else { return nil }
        table = String(cString: name)
        op = code == SQLITE_INSERT ? .insert : code == SQLITE_UPDATE ? .update : .delete
        primaryKey = (0..<Int(pkCount)).map { flags[$0] != 0 }
        old = op == .insert ? [] : Change.values(iterator, count, sqlite3changeset_old)
        new = op == .delete ? [] : Change.values(iterator, count, sqlite3changeset_new)
    }

    static func values(
        _ iterator: OpaquePointer, _ count: Int32,
        _ read: (OpaquePointer?, Int32, UnsafeMutablePointer<OpaquePointer?>?) -> Int32
    ) -> [SQLValue?] {
        (0..<count).map { i in
            var value: OpaquePointer?
            guard read(iterator, i, &value) == SQLITE_OK, let value else { return nil }
            return SQLValue(value)
        }
    }
}
