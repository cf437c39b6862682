import Foundation

/// A temporary directory removed at deinit.
public final class TempDir {
    public let path: String
    public init() {
        path = NSTemporaryDirectory() + "ep-it-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    public func file(_ name: String) -> String { path + "/" + name }
}
