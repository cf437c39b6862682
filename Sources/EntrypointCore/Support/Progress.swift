// Progress of large transfers: a log line every few seconds, or a live bar on a terminal.

public final class Progress {
    let label: String
    let total: UInt64
    let log: Logger
    let interval: Double
    let enabled: Bool
    let live: Bool
    let start = Clock.now()
    var lastReport: Double

    public init(_ label: String, total: UInt64, log: Logger, interval: Double, threshold: UInt64) {
        self.label = label
        self.total = total
        self.log = log
        self.interval = interval
        self.enabled = total >= threshold && log.level <= .info
        self.live = enabled && log.isTerminal
        self.lastReport = Clock.now()
    }

    public func update(_ done: UInt64) {
        guard enabled else { return }
        let now = Clock.now()
        let every = live ? 0.2 : interval
        guard now - lastReport >= every else { return }
        lastReport = now
        let line = Self.describe(label: label, done: done, total: total, elapsed: now - start)
        if live {
            log.write("\r\u{1B}[2K" + Self.bar(done: done, total: total) + " " + line)
        } else {
            log.info(line)
        }
    }

    public func finish(_ done: UInt64) {
        guard enabled else { return }
        if live { log.write("\r\u{1B}[2K") }
        let elapsed = Clock.now() - start
        log.info("\(label): \(Self.bytes(done)) in \(elapsed.clean)s (\(Self.bytes(UInt64(Double(done) / max(elapsed, 0.001))))/s)")
    }

    static func describe(label: String, done: UInt64, total: UInt64, elapsed: Double) -> String {
        let rate = Double(done) / max(elapsed, 0.001)
        var text = "\(label): \(bytes(done)) of \(bytes(total))"
        if total > 0 { text += " (\(done * 100 / total)%)" }
        text += ", \(bytes(UInt64(rate)))/s"
        if rate > 0 && total > done {
            let left = Double(total - done) / rate
            text += ", \(Int(left.rounded(.up)))s left"
        }
        return text
    }

    static func bar(done: UInt64, total: UInt64) -> String {
        let width = 24
        let filled = total > 0 ? Int(min(done, total) * UInt64(width) / total) : 0
        return "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "]"
    }

    /// 1536 -> "1.5 KiB".
    static func bytes(_ n: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(n)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(n) B" }
        return "\((value * 10).rounded() / 10) \(units[unit])"
    }
}
