// Team spaces: the Dropbox-API-Path-Root header (common.stone PathRoot) sent with every /2/ call
// when DROPBOX_ROOT_NAMESPACE is set. An id: `{".tag": "namespace_id", "namespace_id": ID}` (paths
// are relative to that namespace; 422 no_permission without access). `auto`: the account's root
// namespace from users/get_current_account's root_info, as rclone does, sent in root mode
// `{".tag": "root", "root": ID}`, so that Dropbox answers 422 invalid_root if the account's root
// changes (it joined or left a team) instead of silently resolving paths somewhere else.

/// DROPBOX_ROOT_NAMESPACE.
public enum RootNamespace: Equatable, Sendable {
    /// A namespace id (digits): a team space, a team folder, or the member's home namespace.
    case id(String)
    /// The account's root namespace, asked of users/get_current_account.
    case auto

    /// Parses the variable's value; nil when it is neither digits nor `auto`.
    static func parse(_ raw: String) -> RootNamespace? {
        if raw.lowercased() == "auto" { return .auto }
        guard !raw.isEmpty, raw.count <= 32, raw.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return .id(raw)
    }

    /// DROPBOX_ROOT_NAMESPACE's value (nil: unset), or the configuration error naming it.
    static func setting(_ raw: String?) throws(EntrypointError) -> RootNamespace? {
        guard let raw else { return nil }
        guard let parsed = parse(raw) else {
            throw EntrypointError(.config, "DROPBOX_ROOT_NAMESPACE=\(raw) is neither a namespace id (digits, e.g. 3235641) nor auto")
        }
        return parsed
    }

    /// A DROPBOX_DB_PATH of the form ns:<namespace id>/<path in that namespace> (files.stone
    /// ReadPath/WritePath) must name a file inside the namespace; other forms pass.
    static func checkNamespacePath(_ path: String) throws(EntrypointError) {
        guard path.hasPrefix("ns:") else { return }
        let rest = path.dropFirst(3)
        let id = rest.prefix { $0 != "/" }
        guard !id.isEmpty, id.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), rest.dropFirst(id.count).count > 1 else {
            throw EntrypointError(.config, "DROPBOX_DB_PATH=\(path) must be ns:<namespace id>/<path to the file>, e.g. ns:3235641/database.db")
        }
    }

    /// DROPBOX_ROOT_NAMESPACE as --check shows it: what it sends.
    static func describe(_ root: RootNamespace?) -> String {
        switch root {
        case nil: "(not set: paths are relative to the app folder or the home namespace; no Dropbox-API-Path-Root)"
        case .auto: "auto: the account's root namespace from users/get_current_account, sent as Dropbox-API-Path-Root {\".tag\": \"root\"}"
        case .id(let id): "\(id): sent as Dropbox-API-Path-Root {\".tag\": \"namespace_id\", \"namespace_id\": \"\(id)\"}"
        }
    }

    /// The header's JSON value for namespace `id` in `mode` (`namespace_id` or `root`).
    static func header(mode: String, id: String) -> String {
        JSON.object([(".tag", .string(mode)), (mode, .string(id))]).encoded(asciiOnly: true)
    }
}

extension DropboxClient {

    /// The Dropbox-API-Path-Root header lines for a request (none when the setting is off).
    func pathRootHeaders() -> [String] {
        pathRoot.map { ["Dropbox-API-Path-Root: \($0)"] } ?? []
    }

    /// With DROPBOX_ROOT_NAMESPACE=auto, asks users/get_current_account once for the account's
    /// root namespace (root_info.root_namespace_id) and sends it in root mode from then on.
    func resolvePathRoot() throws(EntrypointError) {
        guard config.rootNamespace == .auto, pathRoot == nil else { return }
        let route = "users/get_current_account"
        let response = try send(
            route, host: config.apiURL, headers: { ["Content-Type: application/json"] },
            body: { .bytes(Array("null".utf8)) }, pathRoot: false)
        guard response.status == 200 else { throw failure(route, response) }
        let info = response.json?["root_info"]
        guard let root = info?["root_namespace_id"]?.string, RootNamespace.parse(root) == .id(root) else {
            throw EntrypointError(
                .unavailable, "\(route) answered without root_info.root_namespace_id; DROPBOX_ROOT_NAMESPACE=auto needs it (set the namespace id instead)")
        }
        let home = info?["home_namespace_id"]?.string
        let kind = info?[".tag"]?.string == "team" ? "a team space; the member's home namespace is \(home ?? "?")" : "the account's own (no team space)"
        log.info("DROPBOX_ROOT_NAMESPACE=auto: the account's root namespace is \(root) (\(kind)); paths are relative to it")
        pathRoot = RootNamespace.header(mode: "root", id: root)
    }
}
