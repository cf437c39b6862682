// The fields of Dropbox FileMetadata that entrypoint uses.
/// The fields of a Dropbox FileMetadata that the restore uses.
public struct RemoteFile: Equatable, Sendable {
    public let pathDisplay: String
    public let rev: String
    public let size: UInt64
    public let contentHash: String
    public let serverModified: String

    init?(_ json: JSON) {
        guard json[".tag"]?.string ?? "file" == "file",
            let rev = json["rev"]?.string, let size = json["size"]?.uint64,
            let hash = json["content_hash"]?.string
        else { return nil }
        self.rev = rev
        self.size = size
        self.contentHash = hash.lowercased()
        self.pathDisplay = json["path_display"]?.string ?? json["name"]?.string ?? ""
        self.serverModified = json["server_modified"]?.string ?? ""
    }
}
