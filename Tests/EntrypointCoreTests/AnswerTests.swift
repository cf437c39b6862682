import TestSupport
// Dropbox's answers with their own meaning (Dropbox/Answers.swift), the path root setting
// (Dropbox/PathRoot.swift), ns: paths and the --revisions/--download command line.
import Testing

@testable import EntrypointCore

@Suite struct AnswerTests {
    func refusal(_ status: Int, _ body: String, route: String = "files/upload") throws -> DropboxRefusal? {
        DropboxRefusal.of(status: status, json: try JSON.parse(body), route: route)
    }

    @Test func insufficientSpaceInBothUploadErrorShapes() throws {
        // files/upload: UploadError.path = UploadWriteFailed {reason: WriteError}.
        #expect(
            try refusal(
                409, #"{"error_summary":"path/insufficient_space/..","error":{".tag":"path","reason":{".tag":"insufficient_space"},"upload_session_id":"x"}}"#)
                == .insufficientSpace(tag: "insufficient_space"))
        // upload_session/finish: UploadSessionFinishError.path = WriteError.
        #expect(
            try refusal(
                409, #"{"error_summary":"path/team_folder_insufficient_space/..","error":{".tag":"path","path":{".tag":"team_folder_insufficient_space"}}}"#)
                == .insufficientSpace(tag: "team_folder_insufficient_space"))
        // A conflict is not a refusal of this kind.
        #expect(
            try refusal(409, #"{"error_summary":"path/conflict/file/..","error":{".tag":"path","reason":{".tag":"conflict","conflict":{".tag":"file"}}}}"#)
                == nil)
    }

    @Test func theTeamUploadCapIsNotAPermissionProblem() throws {
        let cap = try refusal(
            403,
            #"{"error_summary":"invalid_account_type/feature/.","error":{".tag":"invalid_account_type","invalid_account_type":{".tag":"feature"}},"user_message":{"locale":"en","text":"Your team has used all of its data transport API calls for the month."}}"#
        )
        #expect(cap == .uploadCap(message: "Your team has used all of its data transport API calls for the month."))
        #expect(cap?.error("files/upload", status: 403, summary: "s", path: "/d.db", pathRoot: nil).code == .accountLimit)
        #expect(try refusal(403, #"{"error_summary":"no_write_permission/..","error":{".tag":"no_write_permission"}}"#) == nil)
        // Only the upload routes count as data transport calls, and the cap is the `feature` tag.
        let capBody = #"{"error_summary":"invalid_account_type/feature/.","error":{".tag":"invalid_account_type","invalid_account_type":{".tag":"feature"}}}"#
        #expect(try refusal(403, capBody, route: "files/upload_session/append_v2") == .uploadCap(message: nil))
        for route in ["files/get_metadata", "files/download", "files/list_revisions"] {
            #expect(try refusal(403, capBody, route: route) == nil, "\(route)")
        }
        #expect(DropboxRefusal.of(status: 403, json: try JSON.parse(capBody)) == nil)  // route unknown
        #expect(
            try refusal(
                403, #"{"error_summary":"invalid_account_type/endpoint/.","error":{".tag":"invalid_account_type","invalid_account_type":{".tag":"endpoint"}}}"#)
                == nil)
    }

    @Test func pathRootErrors() throws {
        let invalid = try refusal(
            422,
            #"{"error_summary":"invalid_root/..","error":{".tag":"invalid_root","invalid_root":{".tag":"team","root_namespace_id":"7001","home_namespace_id":"1","home_path":"/F"}}}"#
        )
        #expect(invalid == .invalidRoot(root: "7001", kind: "team"))
        let e = try #require(invalid).error("files/get_metadata", status: 422, summary: "invalid_root/..", path: "/d.db", pathRoot: "{}")
        #expect(e.code == .pathRoot && e.message.contains("is now 7001 (team)") && e.message.contains("DROPBOX_ROOT_NAMESPACE=7001"))
        #expect(try refusal(422, #"{"error_summary":"no_permission/..","error":{".tag":"no_permission"}}"#) == .noPermissionForRoot)
        // Any other 422 is still a path root refusal (73), not "unavailable" (69).
        #expect(try refusal(422, #"{"error_summary":"other/..","error":{".tag":"other"}}"#) == .otherPathRootError)
        #expect(DropboxRefusal.of(status: 422, json: nil) == .otherPathRootError)
        #expect(DropboxRefusal.otherPathRootError.error("files/download", status: 422, summary: "", path: "/d.db", pathRoot: nil).code == .pathRoot)
    }

    @Test func writeContentionIn429AndIn409() throws {
        #expect(
            try refusal(429, #"{"error_summary":"too_many_write_operations/..","error":{"reason":{".tag":"too_many_write_operations"},"retry_after":1}}"#)
                == .writeContention)
        #expect(try refusal(429, #"{"error_summary":"too_many_requests/..","error":{"reason":{".tag":"too_many_requests"},"retry_after":1}}"#) == nil)
        #expect(DropboxRefusal.of(status: 429, json: nil) == nil)  // plain text: too_many_requests
        #expect(try refusal(409, #"{"error_summary":"too_many_write_operations/..","error":{".tag":"too_many_write_operations"}}"#) == .writeContention)
        #expect(
            try refusal(409, #"{"error_summary":"path/too_many_write_operations/..","error":{".tag":"path","reason":{".tag":"too_many_write_operations"}}}"#)
                == .writeContention)
    }

    @Test func rootNamespaceSetting() throws {
        #expect(RootNamespace.parse("auto") == .auto)
        #expect(RootNamespace.parse("AUTO") == .auto)
        #expect(RootNamespace.parse("3235641") == .id("3235641"))
        for bad in ["", "ns:1", "12a", "-1", "team"] { #expect(RootNamespace.parse(bad) == nil, "\(bad)") }
        #expect(RootNamespace.header(mode: "root", id: "7") == #"{".tag":"root","root":"7"}"#)
        let c = try Configuration(environment: ["DROPBOX_ROOT_NAMESPACE": "7001", "DROPBOX_DB_PATH": "ns:7001/Team/db.sqlite"])
        #expect(c.rootNamespace == .id("7001") && c.remotePath == "ns:7001/Team/db.sqlite")
        #expect(try Configuration(environment: [:]).rootNamespace == nil)
        for path in ["ns:7001", "ns:7001/", "ns:/x.db", "ns:ab/x.db"] {
            #expect(throws: EntrypointError.self) { try Configuration(environment: ["DROPBOX_DB_PATH": path]) }
        }
        #expect(throws: EntrypointError.self) { try Configuration(environment: ["DROPBOX_ROOT_NAMESPACE": "team"]) }
    }

    @Test func revisionsAndDownloadArguments() throws {
        #expect(try Invocation(arguments: ["--revisions"]).mode == .revisions)
        #expect(try Invocation(arguments: ["--download", "0123456789a", "/tmp/x.db"]).mode == .download(rev: "0123456789a", file: "/tmp/x.db"))
        // FILE may start with a dash; it is still FILE.
        #expect(try Invocation(arguments: ["--download", "0123456789a", "-x.db"]).mode == .download(rev: "0123456789a", file: "-x.db"))
        for bad in [["--download"], ["--download", "0123456789a"], ["--revisions", "--check"], ["--download", "a", "b", "cmd"], ["--revisions", "cmd"]] {
            #expect(throws: EntrypointError.self) { try Invocation(arguments: bad) }
        }
        #expect(DownloadMode.isRev("0123456789abcdef") && !DownloadMode.isRev("01234567") && !DownloadMode.isRev("0123456789ABCDEG"))
    }
}
