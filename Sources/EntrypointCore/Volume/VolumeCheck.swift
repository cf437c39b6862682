// "Is the database on a volume that outlives the container?" On Railway, RAILWAY_VOLUME_MOUNT_PATH
// is set when a volume is attached: a database outside it is lost at the next deploy, with every
// write of the emergency. Elsewhere in a container, a database on the same file system as `/` is in
// the container's own layer. Said once at every start; nothing is refused.
import Glibc

enum VolumeCheck {
    enum Finding: Equatable {
        /// On Railway, the database is not under a mounted volume: a warning.
        case railway(String)
        /// In a container, the database's directory is on the same file system as `/`: a hint.
        case containerLayer(String)
    }

    /// The decision, pure. `inContainer` and `onRootFileSystem` are facts `report` gathers.
    static func finding(db: String, environment: [String: String], inContainer: Bool, onRootFileSystem: Bool) -> Finding? {
        if environment["RAILWAY_ENVIRONMENT"].nonEmpty != nil {
            guard let mount = environment["RAILWAY_VOLUME_MOUNT_PATH"].nonEmpty else {
                return .railway(
                    "RAILWAY_ENVIRONMENT is set but RAILWAY_VOLUME_MOUNT_PATH is not: no volume is attached to this service, so the database \(db) (RAILWAY_DB_PATH) lives in the container and every write made here is lost at the next deploy; attach a volume and put RAILWAY_DB_PATH under it (docs/operations.md, 4.4)"
                )
            }
            let base = mount.hasSuffix("/") ? String(mount.dropLast()) : mount
            guard db.hasPrefix(base + "/") else {
                return .railway(
                    "the database \(db) (RAILWAY_DB_PATH) is not under the volume at RAILWAY_VOLUME_MOUNT_PATH=\(mount) (RAILWAY_ENVIRONMENT is set): it lives in the container and every write made here is lost at the next deploy; put RAILWAY_DB_PATH under the volume (docs/operations.md, 4.4)"
                )
            }
            return nil
        }
        guard inContainer && onRootFileSystem else { return nil }
        return .containerLayer(
            "hint: \(FileIO.dirname(db)) is on the container's own file system (the same as /), not a mounted volume: the database's writes are lost when the container is removed (docker run -v data:\(FileIO.dirname(FileIO.dirname(db))))"
        )
    }

    /// Gathers the facts and logs the finding, if any.
    static func report(_ config: Configuration, environment: [String: String], log: Logger) {
        let inContainer = FileIO.exists("/.dockerenv") || FileIO.exists("/run/.containerenv") || environment["container"].nonEmpty != nil
        var dir = FileIO.dirname(config.localPath)
        // The nearest directory that exists (the restore may not have made it: restore off, no credentials).
        while FileIO.statIfPresent(dir) == nil && dir != "/" && !dir.isEmpty { dir = FileIO.dirname(dir) }
        let onRoot = FileIO.statIfPresent(dir).map { d in FileIO.statIfPresent("/").map { $0.st_dev == d.st_dev } ?? false } ?? false
        switch finding(db: config.localPath, environment: environment, inContainer: inContainer, onRootFileSystem: onRoot) {
        case .railway(let line)?: log.warning(line)
        case .containerLayer(let line)?: log.info(line)
        case nil: break
        }
    }
}
