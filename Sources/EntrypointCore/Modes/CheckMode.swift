// --check: what a restore would do and why, without changing anything.
import CShims
import Glibc


/// --check: says what a restore would do and why, without changing anything.
struct CheckMode {
    let config: Configuration
    let environment: [String: String]
    let log: Logger

    func say(_ line: String) { print(log.redact(line)) }

    func run() -> Int32 {
        say("configuration:")
        for (name, value) in config.redactedSummary { say("  \(name) = \(value)") }
        let restorer = Restorer(config: config, log: log, environment: environment)
        defer { fflush(nil) }
        if config.restorePolicy == .off {
            say("result: restore is off (ENTRYPOINT_RESTORE_MODE=off); the command would start on the local database as it is")
            return 0
        }
        if config.credentials == .none {
            say("result: no Dropbox credentials; the restore would be skipped and the command started")
            return 0
        }
        do throws(EntrypointError) {
            let size = try restorer.localSize()
            let hasLocal = (size ?? 0) > 0
            say("local: \(config.localPath): \(size.map { "\(Progress.bytes($0)) (\($0) bytes)" } ?? "missing")")
            let sidecars = SQLite.sidecars(config.localPath)
            if !sidecars.isEmpty { say("local: sidecar files \(sidecars.joined(separator: ", ")) would be checkpointed first") }
            let client = try restorer.makeClient()
            if config.credentials.refreshCredentials != nil {
                try client.refreshToken()
                say("credentials: token refresh OK")
            }
            guard let remote = try client.metadata(config.remotePath) else {
                throw EntrypointError(.remoteMissing, "\(config.remotePath) does not exist in Dropbox (check DROPBOX_DB_PATH)")
            }
            say("credentials: OK (files/get_metadata answered)")
            say("remote: \(remote.pathDisplay) rev \(remote.rev), \(Progress.bytes(remote.size)) (\(remote.size) bytes), modified \(remote.serverModified), content hash \(remote.contentHash)")
            var localHash: String?
            if size != nil {
                localHash = try? ContentHash.ofFile(config.localPath)
                say("local: content hash \(localHash ?? "unreadable")\(sidecars.isEmpty ? "" : " (before checkpointing the sidecars)")")
            }
            let record = StateRecord.load(config.localPath)
            if let record { say("record: last \(record.event) rev \(record.rev) at \(record.time), content hash \(record.contentHash)") }
            if config.restorePolicy == .ifMissing && hasLocal {
                say("result: would keep the local database (ENTRYPOINT_RESTORE_MODE=if-missing)")
            } else if localHash == remote.contentHash && sidecars.isEmpty {
                say("result: no download needed (hash match)")
            } else {
                let changed = hasLocal && StateRecord.localChanged(record, localHash: localHash)
                say("result: would download rev \(remote.rev) (\(Progress.bytes(remote.size))) and replace \(hasLocal ? "the local database" : "nothing (no local database)")\(changed && config.keepCopies > 0 ? ", keeping the changed local database as a copy" : "")")
                var st = statvfs()
                if statvfs(FileIO.dirname(config.localPath), &st) == 0 {
                    let free = UInt64(st.f_bavail) * UInt64(st.f_frsize)
                    if free < remote.size {
                        throw EntrypointError(.localIO, "only \(Progress.bytes(free)) free in \(FileIO.dirname(config.localPath)), the download needs \(Progress.bytes(remote.size))")
                    }
                }
            }
            return 0
        } catch {
            say("result: FAIL: \(error.message)")
            log.error(error.message)
            return error.exitStatus
        }
    }
}
