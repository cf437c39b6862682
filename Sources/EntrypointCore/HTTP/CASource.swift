// Where the CA certificates for TLS come from.
import CShims
import Glibc

/// Where the CA certificates come from (logged once at debug level).
public enum CASource: Equatable, Sendable {
    case file(String, from: String)
    case directory(String, from: String)
    case embedded(bytes: Int)

    public var description: String {
        switch self {
        case .file(let p, let from): "CA bundle \(p) (\(from))"
        case .directory(let p, let from): "CA directory \(p) (\(from))"
        case .embedded(let n): "CA bundle embedded at build time (\(n) bytes)"
        }
    }

    static let wellKnownFiles = [
        "/etc/ssl/certs/ca-certificates.crt",  // Debian, Ubuntu, Alpine with ca-certificates
        "/etc/pki/tls/certs/ca-bundle.crt",  // RHEL, Fedora, CentOS
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  // RHEL family
        "/etc/ssl/cert.pem",  // Alpine, macOS
        "/etc/ssl/ca-bundle.pem",  // openSUSE
    ]

    /// CURL_CA_BUNDLE, SSL_CERT_FILE, SSL_CERT_DIR, the well-known paths, then the embedded bundle.
    public static func resolve(environment env: [String: String]) throws(EntrypointError) -> CASource {
        for name in ["CURL_CA_BUNDLE", "SSL_CERT_FILE"] {
            if let path = env[name].nonEmpty {
                guard let st = try? FileIO.stat(path), (st.st_mode & S_IFMT) == S_IFREG else {
                    throw EntrypointError(.config, "\(name)=\(path) is not a readable file")
                }
                return .file(path, from: name)
            }
        }
        if let dir = env["SSL_CERT_DIR"].nonEmpty {
            let first = String(dir.split(separator: ":").first ?? "")
            guard let st = try? FileIO.stat(first), (st.st_mode & S_IFMT) == S_IFDIR else {
                throw EntrypointError(.config, "SSL_CERT_DIR=\(dir) is not a directory")
            }
            return .directory(first, from: "SSL_CERT_DIR")
        }
        for path in wellKnownFiles {
            if let st = try? FileIO.stat(path), (st.st_mode & S_IFMT) == S_IFREG, st.st_size > 0 {
                return .file(path, from: "well-known path")
            }
        }
        var length = 0
        withExtendedLifetime(ep_embedded_ca(&length)) {}  // only the length is asked for here
        guard length > 0 else {
            throw EntrypointError(.config, "no CA certificates found: set SSL_CERT_FILE to a PEM bundle (this build has none embedded)")
        }
        return .embedded(bytes: length)
    }
}
