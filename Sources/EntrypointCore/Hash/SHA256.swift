// SHA-256 through OpenSSL EVP.
import CCrypto
import Glibc

final class SHA256 {
    private let ctx: OpaquePointer

    init() {
        ctx = EVP_MD_CTX_new()
        EVP_DigestInit_ex(ctx, EVP_sha256(), nil)
    }

    deinit { EVP_MD_CTX_free(ctx) }

    func reset() { EVP_DigestInit_ex(ctx, EVP_sha256(), nil) }

    func update(_ bytes: UnsafeRawBufferPointer) {
        if bytes.count > 0 { EVP_DigestUpdate(ctx, bytes.baseAddress, bytes.count) }
    }

    func finish(into out: UnsafeMutablePointer<UInt8>) {
        var length: UInt32 = 32
        EVP_DigestFinal_ex(ctx, out, &length)
    }

    func finish() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        out.withUnsafeMutableBufferPointer { finish(into: $0.baseAddress!) }
        return out
    }
}
