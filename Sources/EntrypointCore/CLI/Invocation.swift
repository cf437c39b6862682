// The command line: `entrypoint [OPTIONS] [--] [COMMAND [ARGS...]]`.
// Options start with "-" and come before the command. Operator modes are options (--check,
// --backup, --hash), never bare words, so a program called `backup` can still be wrapped.

/// What the user asked for.
public enum Mode: Equatable, Sendable {
    /// Restore, then exec the command (or exit 0 when there is none).
    case run(command: [String])
    case check
    /// `automatic`: `--backup --auto`, as the supervisor runs it (never overwrites, never gives up).
    /// `merge`: `--backup --merge` (and always with `--auto`): when Dropbox moved on since the base,
    /// merge its changes into the local database first, then upload.
    case backup(force: Bool, automatic: Bool, merge: Bool = false)
    case hash(files: [String])
    /// --merge BASE THEIRS INTO: merge THEIRS' changes since BASE into the database INTO.
    case merge(base: String, theirs: String, into: String)
    /// --authorize: get a refresh token (the code flow without a redirect).
    case authorize
    /// --revisions: list DROPBOX_DB_PATH's revisions in Dropbox.
    case revisions
    /// --download REV FILE: one revision to a new local file.
    case download(rev: String, file: String)
    case help
    case version
}

public struct Invocation: Equatable, Sendable {
    public let mode: Mode
    /// --no-expand: pass the command's arguments untouched.
    public let noExpand: Bool

    public static let usage = """
        usage: entrypoint [OPTIONS] [--] [COMMAND [ARGS...]]

        Restores the SQLite database RAILWAY_DB_PATH from Dropbox (DROPBOX_DB_PATH) when the
        remote copy differs, verified and crash-safe, then replaces itself with COMMAND (execve:
        same PID, same signals, COMMAND's exit status). Without COMMAND it restores and exits.
        $NAME and ${NAME} in ARGS are expanded from the environment ($$ is a literal $), except
        for `sh -c` style shell command lines, which the shell expands itself.
        With ENTRYPOINT_BACKUP_INTERVAL or ENTRYPOINT_BACKUP_ON_STOP it runs COMMAND as its child
        instead and stays (forwarding signals, reaping, exiting with COMMAND's status) to upload
        the database while COMMAND runs and when it stops.

        options:
          --check          dry run: show the configuration (secrets redacted), test the credentials,
                           read the remote metadata, hash the local file, and say what a restore
                           would do; changes nothing; exit 0 when a restore would succeed
          --backup         upload a consistent snapshot of the local database to DROPBOX_DB_PATH,
                           refusing if the remote changed since the last restore
          --force          with --backup: overwrite the remote even if it changed
          --auto           with --backup: as the supervisor runs it: upload nothing when the data
                           did not change; when the remote changed, merge as --merge does; only
                           when that merge is refused (or no base), upload beside it as
                           <name>.failback-<UTC time><ext>, one per divergence, updated in place;
                           never overwrites DROPBOX_DB_PATH
          --merge          with --backup: when the remote changed since the base, merge its changes
                           into the local database (needs the base: this volume's copy, or its
                           rev from Dropbox's version history) and upload
                           the result, rev-guarded, instead of refusing
          --hash FILE...   print the Dropbox content hash of each FILE
          --revisions      list DROPBOX_DB_PATH's revisions in Dropbox, newest first, one per line:
                           rev, time (UTC), size in bytes, content hash
          --download REV FILE
                           download revision REV of the database to the new file FILE (verified
                           against Dropbox's content hash; never overwrites an existing FILE)
          --merge BASE THEIRS INTO
                           merge THEIRS' changes since BASE into the SQLite database INTO (stop
                           the app first): rows re-keyed and changes set aside are logged, the
                           set-aside ones kept in <INTO stem>.conflicts-<UTC time><ext>; INTO is
                           replaced crash-safely, the old one kept as INTO.local-<UTC time>;
                           exit 0 all merged, 80 some set aside, 81 refused (nothing changed)
          --authorize      get a refresh token once: prints the Dropbox authorize URL, reads the
                           code you paste, prints DROPBOX_APP_KEY=... and DROPBOX_REFRESH_TOKEN=...
                           (needs DROPBOX_APP_KEY; DROPBOX_APP_SECRET, or PKCE without it)
          --no-expand      do not expand $NAME in COMMAND's arguments (also ENTRYPOINT_EXPAND=0)
          -h, --help       show this help
          -V, --version    show the version, its commit and the linked libcurl, SQLite, OpenSSL
          --               end of options: everything after it is COMMAND

        Configuration is read from the environment; see docs/configuration.md.
        Exit codes: see docs/exit-codes.md (64 usage, 65 bad remote file, 66 remote missing,
        69 Dropbox unavailable, 70 internal, 71 cannot switch to ENTRYPOINT_APP_USER,
        72 Dropbox account full or team upload limit, 73 Dropbox-API-Path-Root refused,
        74 local I/O, 75 lock timeout, 76 backup conflict, 77 credentials rejected,
        78 configuration, 80 merged with conflicts set aside, 81 merge refused,
        126 not executable, 127 not found, 128+N signal N).
        """

    /// Parses argv without the program name.
    public init(arguments: [String]) throws(EntrypointError) {
        let flags = try Flags.scan(arguments)
        noExpand = flags.noExpand
        mode = try flags.mode()
    }

    /// The options as they were given, before they are checked against each other.
    struct Flags {
        var noExpand = false
        var check = false, backup = false, force = false, auto = false, help = false, version = false
        var hashFiles: [String]?
        var mergeFiles: [String]?
        var authorize = false
        var revisions = false
        var download: [String]?
        var command: [String] = []

        /// One pass over argv: options, their operands, then COMMAND (after `--`, or the first
        /// word that is not an option).
        static func scan(_ arguments: [String]) throws(EntrypointError) -> Flags {
            var f = Flags()
            var index = 0
            while index < arguments.count {
                let arg = arguments[index]
                if arg == "--" {
                    f.command = Array(arguments[(index + 1)...])
                    break
                }
                if let got = f.download, got.count < 2 {
                    f.download = got + [arg]  // REV and FILE, whatever they look like
                    index += 1
                    continue
                }
                if !arg.hasPrefix("-") || arg == "-" {
                    if let files = f.mergeFiles, files.count < 3 {
                        f.mergeFiles = files + [arg]
                        index += 1
                        continue
                    }
                    if let files = f.hashFiles {
                        f.hashFiles = files + [arg]
                        index += 1
                        continue
                    }
                    f.command = Array(arguments[index...])
                    break
                }
                switch arg {
                case "-h", "--help": f.help = true
                case "-V", "--version": f.version = true
                case "--no-expand": f.noExpand = true
                case "--check": f.check = true
                case "--backup": f.backup = true
                case "--force": f.force = true
                case "--auto": f.auto = true
                case "--hash": f.hashFiles = f.hashFiles ?? []
                case "--merge": f.mergeFiles = f.mergeFiles ?? []
                case "--authorize": f.authorize = true
                case "--revisions": f.revisions = true
                case "--download": f.download = f.download ?? []
                default:
                    throw EntrypointError(
                        .usage, "unknown option \(arg) (options go before the command; use -- before a command that starts with -; see --help)")
                }
                index += 1
            }
            return f
        }

        /// The mode the options ask for, or the usage error that names the combination refused.
        func mode() throws(EntrypointError) -> Mode {
            var mergeFiles = self.mergeFiles
            var backupMerge = false
            if backup, let files = mergeFiles, files.isEmpty {  // --backup --merge: a flag, not the file merge
                backupMerge = true
                mergeFiles = nil
            }
            if help { return .help }
            if version { return .version }
            let modes = [check, backup, hashFiles != nil, authorize, revisions, download != nil, mergeFiles != nil].filter { $0 }.count
            if modes > 1 { throw EntrypointError(.usage, "--check, --backup, --hash, --merge, --authorize, --revisions and --download cannot be combined") }
            if force && !backup { throw EntrypointError(.usage, "--force only applies to --backup") }
            if auto && !backup { throw EntrypointError(.usage, "--auto only applies to --backup") }
            if auto && force { throw EntrypointError(.usage, "--auto and --force cannot be combined (an automatic backup never overwrites)") }
            if backupMerge && force {
                throw EntrypointError(.usage, "--merge and --force cannot be combined (--force overwrites, --merge keeps both sides' writes)")
            }
            if modes == 1 && !command.isEmpty {
                throw EntrypointError(
                    .usage, "a command cannot follow --check, --backup, --hash, --merge, --authorize, --revisions or --download (got \(command[0]))")
            }
            if let got = download, got.count < 2 || got.contains(where: \.isEmpty) {
                throw EntrypointError(.usage, "--download needs REV and FILE (entrypoint --download REV FILE; --revisions lists the revs)")
            }
            if let files = mergeFiles {
                guard files.count == 3 else { throw EntrypointError(.usage, "--merge needs three files: BASE THEIRS INTO (got \(files.count))") }
                return .merge(base: files[0], theirs: files[1], into: files[2])
            }
            if let files = hashFiles {
                guard !files.isEmpty else { throw EntrypointError(.usage, "--hash needs at least one FILE") }
                return .hash(files: files)
            }
            if authorize { return .authorize }
            if revisions { return .revisions }
            if let got = download { return .download(rev: got[0], file: got[1]) }
            if check { return .check }
            // --auto merges too: the supervisor's backups never leave the two sites' writes in copies.
            if backup { return .backup(force: force, automatic: auto, merge: backupMerge || auto) }
            return .run(command: command)
        }
    }
}
