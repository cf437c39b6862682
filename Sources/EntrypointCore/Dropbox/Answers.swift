// Dropbox's answers that need their own line and exit code (issue 20 item 5), decided from the
// typed error body (files.stone WriteError, common.stone PathRootError, the data transport limit
// page), never from the message text: a full account, the team's monthly upload cap, a refused
// Dropbox-API-Path-Root, and write-lock contention (retried).

/// What a Dropbox error answer means for the operator, as a value (unit-tested in AnswerTests).
enum DropboxRefusal: Equatable {
    /// 409 WriteError.insufficient_space (also team_folder_/member_folder_insufficient_space):
    /// the account (or the team space) is full.
    case insufficientSpace(tag: String)
    /// 403 invalid_account_type/feature on an upload route: the team's monthly data transport
    /// calls are used up (dropbox.com/developers/reference/data-transport-limit); also
    /// WriteError.upload_traffic_limit_reached. `message`: Dropbox's user_message, if any.
    case uploadCap(message: String?)
    /// 422 PathRootError.invalid_root: the account's root namespace is now `root` (its kind: team/user).
    case invalidRoot(root: String?, kind: String?)
    /// 422 PathRootError.no_permission: no access to the namespace in Dropbox-API-Path-Root.
    case noPermissionForRoot
    /// Any other 422 (a PathRootError tag this binary does not know, such as `other`, or a body
    /// that is not JSON): Dropbox answers 422 only for a refused Dropbox-API-Path-Root, so it is
    /// still exit 73, never "unavailable" (69 would let a start go on with the local database).
    case otherPathRootError
    /// 429 (or 409 WriteError) too_many_write_operations: lock contention in the account; retry.
    case writeContention

    /// Classifies `response` to `route` (nil: any route); nil for every other answer.
    static func of(_ response: HTTPResponse, route: String? = nil) -> DropboxRefusal? {
        of(status: response.status, json: response.json, route: route)
    }

    /// The routes that count as data transport calls (files.stone: files/upload and the
    /// upload_session routes): only they can meet the team's monthly cap.
    static func isDataTransport(_ route: String?) -> Bool {
        route.map { $0 == "files/upload" || $0.hasPrefix("files/upload_session/") } ?? false
    }

    static func of(status: Int, json: JSON?, route: String? = nil) -> DropboxRefusal? {
        let error = json?["error"]
        let tag = error?[".tag"]?.string
        switch status {
        case 403
        where tag == "invalid_account_type" && isDataTransport(route)
            && error?["invalid_account_type"]?[".tag"]?.string == "feature":
            // data-transport-limit: "a 403 status code with the invalid_account_type/feature error".
            // Elsewhere (a restore's get_metadata or download) it is a permission problem (77).
            return .uploadCap(message: json?["user_message"]?["text"]?.string)
        case 422 where tag == "invalid_root":
            let info = error?["invalid_root"]
            return .invalidRoot(root: info?["root_namespace_id"]?.string, kind: info?[".tag"]?.string)
        case 422 where tag == "no_permission":
            return .noPermissionForRoot
        case 422:
            return .otherPathRootError
        case 429:
            // RateLimitError: {"reason": {".tag": ...}}; a plain-text 429 is too_many_requests.
            let reason = error?["reason"]?[".tag"]?.string ?? json?["reason"]?[".tag"]?.string ?? json?["reason"]?.string
            return reason == "too_many_write_operations" ? .writeContention : nil
        case 409:
            // The WriteError sits in UploadError.path.reason (files/upload) or
            // UploadSessionFinishError.path (finish); finish also has its own too_many_write_operations.
            if tag == "too_many_write_operations" { return .writeContention }
            guard tag == "path" else { return nil }
            let write = error?["reason"]?[".tag"]?.string ?? error?["path"]?[".tag"]?.string ?? ""
            if write.hasSuffix("insufficient_space") { return .insufficientSpace(tag: write) }
            if write == "upload_traffic_limit_reached" { return .uploadCap(message: nil) }
            if write == "too_many_write_operations" { return .writeContention }
            return nil
        default:
            return nil
        }
    }

    /// The reason of a retry for `.writeContention`, as the retry line shows it.
    static let contentionReason =
        "too_many_write_operations: another write holds the lock in this Dropbox account or folder (lock contention, not a rate limit)"

    /// The operator's line and exit code for a refusal that ends the operation (not `.writeContention`).
    func error(_ route: String, status: Int, summary: String, path: String, pathRoot: String?) -> EntrypointError {
        let cause = EntrypointError.Cause.http(status: status, summary: summary)
        switch self {
        case .insufficientSpace:
            return EntrypointError(
                .accountLimit,
                "Dropbox refused \(route) to \(path): the Dropbox account is full (HTTP \(status) \(summary)); nothing was uploaded or overwritten. Free space in the account (or raise the team space's quota): until then every backup fails, the main server's backups to the same account too",
                cause: cause)
        case .uploadCap(let message):
            let said = message.map { " Dropbox says: \"\($0)\"" } ?? ""
            return EntrypointError(
                .accountLimit,
                "Dropbox refused \(route) to \(path): the Dropbox team has used its monthly data transport (upload) calls (HTTP \(status) \(summary)); nothing was uploaded. Uploads work again when the limit resets (the 1st of the month) or the team's plan changes; restores are not affected.\(said)",
                cause: cause)
        case .invalidRoot(let root, let kind):
            let now = root.map { " is now \($0)\(kind.map { " (\($0))" } ?? "")" } ?? " changed"
            return EntrypointError(
                .pathRoot,
                "Dropbox refused \(route): HTTP \(status) \(summary): the account's root namespace\(now), not the one sent in Dropbox-API-Path-Root (\(pathRoot ?? "none")); the account joined or left a team, so its paths moved. Check DROPBOX_DB_PATH, then set DROPBOX_ROOT_NAMESPACE=\(root ?? "auto") (or auto)",
                cause: cause)
        case .noPermissionForRoot:
            return EntrypointError(
                .pathRoot,
                "Dropbox refused \(route): HTTP \(status) \(summary): this account has no access to the namespace in Dropbox-API-Path-Root (\(pathRoot ?? "none")); check DROPBOX_ROOT_NAMESPACE",
                cause: cause)
        case .otherPathRootError:
            return EntrypointError(
                .pathRoot,
                "Dropbox refused \(route): HTTP \(status) \(summary.isEmpty ? "(no body)" : summary): Dropbox's answer to a refused Dropbox-API-Path-Root (\(pathRoot ?? "none sent")); check DROPBOX_ROOT_NAMESPACE and DROPBOX_DB_PATH",
                cause: cause)
        case .writeContention:
            return EntrypointError(.unavailable, "\(route): HTTP \(status) \(Self.contentionReason)", cause: cause)
        }
    }
}
