// The policy settings: ENTRYPOINT_RESTORE_MODE and ENTRYPOINT_ON_UNAVAILABLE.
/// What to do with an existing local database (ENTRYPOINT_RESTORE_MODE).
public enum RestorePolicy: String, Sendable, CaseIterable {
    /// Download when the remote content hash differs from the local file (the seed's behaviour).
    case replace
    /// Download only when there is no local database (or it is empty); never replace one.
    case ifMissing = "if-missing"
    /// Never contact Dropbox; just start the command.
    case off
}

/// What to do when Dropbox cannot give us the file (ENTRYPOINT_ON_UNAVAILABLE).
public enum UnavailablePolicy: String, Sendable, CaseIterable {
    /// Start on the local database if one exists, otherwise exit non-zero so the platform retries.
    case auto
    /// Always exit non-zero.
    case fail
    /// Always start the command, even with no database.
    case start
}
