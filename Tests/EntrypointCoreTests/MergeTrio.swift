// The merge tests' fixture: BASE, OURS and THEIRS made from one schema in a TempDir, merged with the
// real MergeInstall, and read back (rows, what was set aside, the PRAGMA checks).
import Foundation
import TestSupport

@testable import EntrypointCore

/// Three databases from one schema: the base, OURS (the local database, merged into) and THEIRS.
struct MergeTrio {
    let dir = TempDir()
    var base: String { dir.file("base.db") }
    var ours: String { dir.file("app.db") }
    var theirs: String { dir.file("theirs.db") }

    init(_ schema: String, base: String = "", ours: String, theirs: String) throws {
        try DB.sql(self.base, schema + base)
        try FileManager.default.copyItem(atPath: self.base, toPath: self.ours)
        try FileManager.default.copyItem(atPath: self.base, toPath: self.theirs)
        try DB.sql(self.ours, ours)
        try DB.sql(self.theirs, theirs)
    }

    /// A logger that writes nothing: the tests read the report, not the lines.
    static var quiet: Logger { Logger(level: .error, fd: -1) }

    /// Merges THEIRS (or `theirs`, another file) into OURS, with BASE as the base.
    @discardableResult
    func merge(theirs: String? = nil) throws -> MergeReport {
        let labels = MergeLabels(ours: "ours", base: "base", theirs: "theirs")
        return try MergeInstall(db: ours, base: base, theirs: theirs ?? self.theirs, labels: labels, log: Self.quiet).run()
    }

    /// The first column of each row of `sql` on the merged database.
    func rows(_ sql: String) throws -> [String] { try DB.sql(ours, sql) }

    /// The first column of each row of `sql` on the conflicts database written by `report`.
    func conflicts(_ report: MergeReport, _ sql: String) throws -> [String] {
        guard let path = report.conflictsPath else { return [] }
        return try DB.sql(path, sql)
    }

    func checks() throws -> [String] { try rows("PRAGMA integrity_check") + rows("PRAGMA foreign_key_check") }
}
