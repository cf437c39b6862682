// The merge's rules, as pure functions: what happens to a change of THEIRS (Dropbox's file) that
// meets OURS' (the local database's) change of the same row. docs/design.md, "The merge rules",
// says why each keeps every write.
import CSQLite

/// The conflict kinds SQLite's apply reports (sqlite3changeset_apply's eConflict).
enum ConflictKind: String, Sendable, CaseIterable {
    case data = "DATA"
    case notFound = "NOTFOUND"
    case conflict = "CONFLICT"
    case constraint = "CONSTRAINT"
    case foreignKey = "FOREIGN_KEY"

    init?(code: Int32) {
        switch code {
        case SQLITE_CHANGESET_DATA: self = .data
        case SQLITE_CHANGESET_NOTFOUND: self = .notFound
        case SQLITE_CHANGESET_CONFLICT: self = .conflict
        case SQLITE_CHANGESET_CONSTRAINT: self = .constraint
        case SQLITE_CHANGESET_FOREIGN_KEY: self = .foreignKey
        default: return nil
        }
    }
}

/// What the merge does with one conflicting change of THEIRS.
enum Resolution: Equatable, Sendable {
    /// Both sides made the same change (or ours' change and theirs' touch different columns of
    /// the row): theirs' values are written, nothing is set aside.
    case same(apply: Bool)
    /// The same row changed differently on both sides: theirs' version stays (it reached Dropbox
    /// first), ours' row goes to the conflicts database.
    case theirsKeptOursSetAside
    /// Theirs deleted a row ours changed: ours' row stays, theirs' deletion is set aside.
    case oursKeptTheirDeletionSetAside
    /// Ours deleted a row theirs changed: theirs' row is restored, ours' deletion is set aside.
    case theirsRestoredOurDeletionSetAside
    /// Theirs' change breaks a constraint of the merged database: it is set aside, ours stays.
    case theirsSetAside

    /// The answer to SQLite: REPLACE writes theirs' change, OMIT skips it.
    var answer: Int32 {
        switch self {
        case .same(let apply): apply ? SQLITE_CHANGESET_REPLACE : SQLITE_CHANGESET_OMIT
        case .theirsKeptOursSetAside: SQLITE_CHANGESET_REPLACE
        case .oursKeptTheirDeletionSetAside, .theirsRestoredOurDeletionSetAside, .theirsSetAside: SQLITE_CHANGESET_OMIT
        }
    }

    /// Whether something goes to the conflicts database.
    var setsAside: Bool {
        if case .same = self { return false }
        return true
    }
}

enum MergeRules {
    /// The rule for a conflict of `kind` on `change`; `current` is ours' row as the apply found it
    /// (DATA and CONFLICT only; nil otherwise).
    static func resolve(_ kind: ConflictKind, _ change: Change, current: [SQLValue?]?) -> Resolution {
        switch (kind, change.op) {
        case (.data, .update):
            // Ours changed a column theirs changed too. Only a column that both sides set to
            // different values is a conflict; the rest (same value, or untouched by ours) merges.
            let row = current ?? []
            for i in change.new.indices where change.new[i] != nil && i < row.count && i < change.old.count {
                let ours = row[i]
                let base = change.old[i]
                let theirs = change.new[i]
                if ours != base && ours != theirs { return .theirsKeptOursSetAside }
            }
            return .same(apply: true)
        case (.data, _):
            // A DELETE that found ours' row changed since the base.
            return .oursKeptTheirDeletionSetAside
        case (.notFound, .delete):
            return .same(apply: false)  // deleted on both sides
        case (.notFound, _):
            return .theirsRestoredOurDeletionSetAside
        case (.conflict, _):
            // An INSERT whose key ours inserted too (integer keys were re-keyed before the apply,
            // so this is a text or composite key, or an identical row).
            return current.map { $0 == change.new } == true ? .same(apply: false) : .theirsKeptOursSetAside
        case (.constraint, _), (.foreignKey, _):
            // Foreign keys are off during the apply (checked after it, MergeRepair), so FOREIGN_KEY
            // is not raised; if it were, OMIT is its only answer that keeps the transaction.
            return .theirsSetAside
        }
    }

    /// The line's and the conflicts database's "why" for a resolution.
    static func why(_ resolution: Resolution, _ kind: ConflictKind) -> String {
        switch resolution {
        case .same: "the same change on both sides"
        case .theirsKeptOursSetAside:
            kind == .conflict
                ? "both sides inserted this key with different values: Dropbox's row stays, the local row is set aside"
                : "changed differently on both sides: Dropbox's version stays, the local version is set aside"
        case .oursKeptTheirDeletionSetAside: "deleted on Dropbox, changed locally: the local row stays, the deletion is set aside"
        case .theirsRestoredOurDeletionSetAside: "deleted locally, changed on Dropbox: Dropbox's row stays, the deletion is set aside"
        case .theirsSetAside:
            "Dropbox's change breaks a UNIQUE, CHECK or NOT NULL constraint against the local rows: the local rows stay, Dropbox's change is set aside"
        }
    }
}
