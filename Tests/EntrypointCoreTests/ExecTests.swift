// The PATH search as execvp does it, the progress line's numbers and the form encoding of requests.
import Testing

@testable import EntrypointCore

@Suite struct ExecTests {
    @Test func pathSearchFollowsExecvp() {
        #expect(Exec.candidates(for: "uvicorn", path: "/venv/bin:/usr/bin") == ["/venv/bin/uvicorn", "/usr/bin/uvicorn"])
        #expect(Exec.candidates(for: "./run", path: "/usr/bin") == ["./run"])
        #expect(Exec.candidates(for: "/abs/x", path: nil) == ["/abs/x"])
        #expect(Exec.candidates(for: "x", path: nil) == ["/bin/x", "/usr/bin/x"])
        // An empty PATH element means the current directory.
        #expect(Exec.candidates(for: "x", path: ":/bin") == ["x", "/bin/x"])
    }

    @Test func progressFormatting() {
        #expect(Progress.bytes(0) == "0 B")
        #expect(Progress.bytes(1536) == "1.5 KiB")
        #expect(Progress.bytes(1 << 30) == "1.0 GiB")
        let line = Progress.describe(label: "downloading", done: 512 << 20, total: 1 << 30, elapsed: 2)
        #expect(line == "downloading: 512.0 MiB of 1.0 GiB (50%), 256.0 MiB/s, 2s left")
        #expect(Progress.bar(done: 1, total: 2) == "[############------------]")
    }

    @Test func formEncoding() {
        #expect(formEncode("a b&c=d/é~") == "a%20b%26c%3Dd%2F%C3%A9~")
        #expect(SQLite.uriEscape("/data/a b?#%ü.db") == "/data/a%20b%3F%23%25%C3%BC.db")
    }
}
