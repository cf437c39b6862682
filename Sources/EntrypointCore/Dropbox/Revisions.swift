// files/list_revisions (files.stone ListRevisionsArg/Result): a file's revisions, newest first.

extension DropboxClient {

    /// The revisions Dropbox keeps of `path` (mode path), newest first, all pages (`before_rev`
    /// with the last rev of a page while has_more), at most `limit` in all; `more`: Dropbox has
    /// older ones past the limit. Nil when the file does not exist (409 path/not_found).
    func revisions(_ path: String, limit: Int = 1000) throws(EntrypointError) -> (entries: [RemoteFile], isDeleted: Bool, more: Bool)? {
        let route = "files/list_revisions"
        var entries: [RemoteFile] = []
        var deleted = false
        var more = false
        while entries.count < limit {
            var members: [(String, JSON)] = [("path", .string(path)), ("mode", .string("path")), ("limit", .number(Double(min(100, limit - entries.count))))]
            if let last = entries.last { members.append(("before_rev", .string(last.rev))) }
            let arg = JSON.object(members).encoded()
            let response = try send(route, host: config.apiURL, headers: { ["Content-Type: application/json"] }, body: { .bytes(Array(arg.utf8)) })
            if response.status == 409 {
                let summary = Self.summary(response)
                if summary.hasPrefix("path/not_found") && entries.isEmpty { return nil }
                if summary.hasPrefix("path/not_file") || summary.hasPrefix("path/not_folder") {
                    throw EntrypointError(.config, "DROPBOX_DB_PATH=\(path) is a folder in Dropbox, not a file")
                }
                throw EntrypointError(.unavailable, "\(route) \(path): HTTP 409 \(summary)", cause: .http(status: 409, summary: summary))
            }
            guard response.status == 200 else { throw failure(route, response) }
            guard let json = response.json, case .array(let list)? = json["entries"] else {
                throw EntrypointError(.unavailable, "\(route) \(path): the answer has no entries")
            }
            let page = list.compactMap { RemoteFile($0) }
            guard page.count == list.count else {
                throw EntrypointError(.unavailable, "\(route) \(path): an entry lacks rev, size or content_hash")
            }
            if entries.isEmpty, case .bool(let d)? = json["is_deleted"] { deleted = d }
            entries += page
            guard case .bool(true)? = json["has_more"], !page.isEmpty else {
                more = false
                break
            }
            more = true  // true at the end only when the limit ended the loop
        }
        return (entries, deleted, more && entries.count >= limit)
    }
}
