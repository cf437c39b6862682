// Percent-encoding for form values and file: URIs.
/// Percent-encodes every UTF-8 byte of `value` for which `keep` is false.
func percentEncode(_ value: String, keeping keep: (UInt8) -> Bool) -> String {
    let hex = Array("0123456789ABCDEF")
    var out = ""
    for b in value.utf8 {
        if keep(b) {
            out.append(Character(Unicode.Scalar(b)))
        } else {
            out += "%" + String(hex[Int(b >> 4)]) + String(hex[Int(b & 0xF)])
        }
    }
    return out
}

/// application/x-www-form-urlencoded value encoding: only unreserved characters stay.
func formEncode(_ value: String) -> String {
    percentEncode(value) { b in
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            true
        default:
            false
        }
    }
}
