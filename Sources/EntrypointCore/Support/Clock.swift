// Monotonic time, interruptible sleep, UTC stamps.
import CShims
import Glibc

/// Monotonic time in seconds.
public enum Clock {
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Sleeps up to `seconds`, waking early (returning false) when a stop signal is pending.
    static func sleep(_ seconds: Double) -> Bool {
        let end = now() + seconds
        while true {
            if Signals.pending != 0 { return false }
            let left = end - now()
            if left <= 0 { return true }
            var ts = timespec(tv_sec: 0, tv_nsec: Int(min(left, 0.05) * 1e9))
            nanosleep(&ts, nil)
        }
    }

    /// Wall-clock UTC time as 2026-11-28T13:05:00Z.
    static func utcStamp(compact: Bool = false) -> String {
        var t = time(nil)
        var tm = Glibc.tm()
        gmtime_r(&t, &tm)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let date = "\(tm.tm_year + 1900)\(compact ? "" : "-")\(two(tm.tm_mon + 1))\(compact ? "" : "-")\(two(tm.tm_mday))"
        let clock = "\(two(tm.tm_hour))\(compact ? "" : ":")\(two(tm.tm_min))\(compact ? "" : ":")\(two(tm.tm_sec))"
        return date + "T" + clock + "Z"
    }
}
