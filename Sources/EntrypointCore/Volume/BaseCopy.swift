// The base: the state this volume last shared with Dropbox, kept beside the database as
// `<db>.entrypoint-base` so that a later divergence can be merged without a download (docs/design.md,
// "The base"). It is the uploaded snapshot itself after a backup and Dropbox's downloaded rev after a
// merge (hard links: no extra write). A restore keeps none (a copy would write the database twice):
// the record's rev is the base then, downloaded by a merge (Restore/BaseFetch.swift). It is used only
// when its data hash is the record's: a base that cannot be proved is never used.
import Glibc

enum BaseCopy {
    static func path(for db: String) -> String { db + ".entrypoint-base" }
    static let tempInfix = ".entrypoint-base-tmp-"

    /// Keeps `file` as the base: hard-link it (`link`: a private temporary the caller then removes)
    /// or copy it (a file about to become the live database) to a temporary name, rename that over
    /// the base, fsync the directory. A file system without hard links gets a copy. The file is not
    /// fsynced: a base is used only once its data hash proves it (`proven`), so one torn by a power
    /// cut is never used (the record's rev is downloaded instead), and an fsync of a just-written
    /// snapshot cost every backup seconds per GiB. A failure costs only the base (logged): the
    /// backup or restore stands.
    static func keep(_ file: String, for db: String, log: Logger, link: Bool = true) {
        let target = path(for: db)
        let directory = FileIO.dirname(db)
        do throws(SystemError) {
            let temp = db + tempInfix + FileIO.randomSuffix()
            if link {
                do throws(SystemError) { try FileIO.link(file, temp) } catch  where [EXDEV, EPERM, ENOTSUP, EMLINK].contains(error.errno) {
                    try FileIO.copyFile(file, temp, near: db, infix: tempInfix, mode: 0o600)
                }
            } else {
                try FileIO.copyFile(file, temp, near: db, infix: tempInfix, mode: 0o600)
            }
            do throws(SystemError) {
                try FileIO.rename(temp, target)
            } catch {
                FileIO.removeBestEffort(temp)
                throw error
            }
            try FileIO.fsyncDirectory(directory)
        } catch {
            log.warning("cannot keep the base \(target) (\(error.message)): a later divergence will keep copies instead of merging")
        }
    }

    /// Removes the base after a restore wrote a new record: it describes an older state, so it
    /// would never prove the record again (`proven`), only hold space. A failure is logged, nothing else.
    static func removeStale(for db: String, log: Logger) {
        let base = path(for: db)
        do throws(SystemError) {
            guard FileIO.exists(base) else { return }
            try FileIO.unlinkIfPresent(base)
            log.info("removed the base \(base): the record now names another rev (a later merge downloads that rev)")
        } catch {
            log.warning("cannot remove the old base \(base) (\(error.message)); it is never used again")
        }
    }

    /// The base, when its data hash is the record's (`data_hash`): the state the record describes.
    /// A base that cannot be read proves nothing (nil, as a missing one).
    static func proven(for db: String, record: StateRecord?) -> String? {
        let base = path(for: db)
        guard let expected = record?.dataHash, FileIO.exists(base),
            let hashes = try? DataHash.ofFile(base), hashes.data == expected
        else { return nil }
        return base
    }
}
