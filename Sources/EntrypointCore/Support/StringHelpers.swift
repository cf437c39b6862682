// Small helpers on String, Optional<String> and Double.
extension Optional where Wrapped == String {
    /// nil for unset and for the empty string (the seed treats both as "missing").
    var nonEmpty: String? {
        guard let s = self, !s.isEmpty else { return nil }
        return s
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let bytes = Array(utf8)
        var start = 0
        var end = bytes.count
        func space(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
        while start < end && space(bytes[start]) { start += 1 }
        while end > start && space(bytes[end - 1]) { end -= 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}

extension Double {
    /// "240" rather than "240.0"; one decimal otherwise.
    var clean: String {
        if self == rounded() && abs(self) < 1e15 { return String(Int(self)) }
        let tenths = (self * 10).rounded() / 10
        return String(tenths)
    }
}
