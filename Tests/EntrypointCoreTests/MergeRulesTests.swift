import CSQLite
import Testing

@testable import EntrypointCore

/// The merge's rules as pure functions: each conflict kind SQLite's apply reports, each op.
@Suite struct MergeRulesTests {
    let pk = [true, false, false]

    func update(old: [SQLValue?], new: [SQLValue?]) -> Change {
        Change(table: "t", op: .update, primaryKey: pk, old: old, new: new)
    }

    @Test func dataOnAnUpdate() {
        // Both set column 1 to different values: theirs stays, ours is set aside.
        let change = update(old: [.integer(1), .text("a"), nil], new: [nil, .text("theirs"), nil])
        #expect(MergeRules.resolve(.data, change, current: [.integer(1), .text("ours"), .text("x")]) == .theirsKeptOursSetAside)
        // Both set the same value: taken once, nothing set aside.
        #expect(MergeRules.resolve(.data, change, current: [.integer(1), .text("theirs"), .text("x")]) == .same(apply: true))
        // Theirs changed columns 1 and 2, ours changed column 1 the same way only: theirs' column 2 is taken.
        let two = update(old: [.integer(1), .text("a"), .text("b")], new: [nil, .text("A"), .text("B")])
        #expect(MergeRules.resolve(.data, two, current: [.integer(1), .text("A"), .text("b")]) == .same(apply: true))
        #expect(MergeRules.resolve(.data, two, current: [.integer(1), .text("Z"), .text("b")]) == .theirsKeptOursSetAside)
        #expect(Resolution.theirsKeptOursSetAside.answer == SQLITE_CHANGESET_REPLACE)
        #expect(Resolution.same(apply: true).answer == SQLITE_CHANGESET_REPLACE)
    }

    @Test func dataOnADeleteKeepsOursChangedRow() {
        let change = Change(table: "t", op: .delete, primaryKey: pk, old: [.integer(1), .text("a"), .text("b")], new: [])
        let r = MergeRules.resolve(.data, change, current: [.integer(1), .text("changed"), .text("b")])
        #expect(r == .oursKeptTheirDeletionSetAside)
        #expect(r.answer == SQLITE_CHANGESET_OMIT)
    }

    @Test func notFound() {
        let delete = Change(table: "t", op: .delete, primaryKey: pk, old: [.integer(1), .text("a"), .text("b")], new: [])
        #expect(MergeRules.resolve(.notFound, delete, current: nil) == .same(apply: false), "deleted on both sides")
        let change = update(old: [.integer(1), .text("a"), nil], new: [nil, .text("b"), nil])
        let r = MergeRules.resolve(.notFound, change, current: nil)
        #expect(r == .theirsRestoredOurDeletionSetAside)
        #expect(r.answer == SQLITE_CHANGESET_OMIT, "REPLACE is SQLITE_MISUSE for NOTFOUND")
    }

    @Test func conflictOnAnInsert() {
        let insert = Change(table: "t", op: .insert, primaryKey: pk, old: [], new: [.text("k"), .text("a"), .null])
        #expect(MergeRules.resolve(.conflict, insert, current: [.text("k"), .text("a"), .null]) == .same(apply: false))
        #expect(MergeRules.resolve(.conflict, insert, current: [.text("k"), .text("other"), .null]) == .theirsKeptOursSetAside)
    }

    @Test func constraintAndForeignKeyOnlyOmit() {
        let insert = Change(table: "t", op: .insert, primaryKey: pk, old: [], new: [.integer(9), .text("a"), .null])
        for kind in [ConflictKind.constraint, .foreignKey] {
            let r = MergeRules.resolve(kind, insert, current: nil)
            #expect(r == .theirsSetAside)
            #expect(r.answer == SQLITE_CHANGESET_OMIT, "REPLACE is SQLITE_MISUSE for \(kind)")
        }
    }

    @Test func everyKindHasItsCode() {
        #expect(
            ConflictKind.allCases.map { ConflictKind(code: Int32($0 == .data ? 1 : $0 == .notFound ? 2 : $0 == .conflict ? 3 : $0 == .constraint ? 4 : 5)) }
                == ConflictKind.allCases)
    }
}
