// The PATH search of the wrapped command, as execvp does it.
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
}
