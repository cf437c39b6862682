// The progress line of a long transfer: sizes in binary units, done of total, rate, time left, bar.
import Testing

@testable import EntrypointCore

@Suite struct ProgressTests {
    @Test func progressFormatting() {
        #expect(Progress.bytes(0) == "0 B")
        #expect(Progress.bytes(1536) == "1.5 KiB")
        #expect(Progress.bytes(1 << 30) == "1.0 GiB")
        let line = Progress.describe(label: "downloading", done: 512 << 20, total: 1 << 30, elapsed: 2)
        #expect(line == "downloading: 512.0 MiB of 1.0 GiB (50%), 256.0 MiB/s, 2s left")
        #expect(Progress.bar(done: 1, total: 2) == "[############------------]")
    }
}
