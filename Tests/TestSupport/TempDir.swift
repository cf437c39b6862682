// The one temporary directory of the tests (both test targets): a fresh directory, removed with
// everything in it when the TempDir goes away. Keep the TempDir itself (not only its path) for as
// long as the files are used: a test holds it in a local (`let dir = TempDir()`) or a property.
import Foundation

public final class TempDir: @unchecked Sendable {
    public let path: String

    public init() {
        path = NSTemporaryDirectory() + "ep-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// The path of `name` in this directory.
    public func file(_ name: String) -> String { path + "/" + name }
}
