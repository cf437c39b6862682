// Where TLS trust comes from: CURL_CA_BUNDLE, SSL_CERT_FILE, SSL_CERT_DIR in curl's order (a missing
// explicit bundle is a configuration error), else the well-known paths, then the embedded bundle.
import Foundation
import TestSupport
import Testing

@testable import EntrypointCore

@Suite struct CASourceTests {
    @Test func explicitVariablesWinInCurlsOrder() throws {
        let dir = TempDir()
        let a = dir.file("ca-a.pem")
        let b = dir.file("ca-b.pem")
        try "x".write(toFile: a, atomically: true, encoding: .utf8)
        try "x".write(toFile: b, atomically: true, encoding: .utf8)
        #expect(try CASource.resolve(environment: ["CURL_CA_BUNDLE": a, "SSL_CERT_FILE": b]) == .file(a, from: "CURL_CA_BUNDLE"))
        #expect(try CASource.resolve(environment: ["SSL_CERT_FILE": b, "SSL_CERT_DIR": dir.path]) == .file(b, from: "SSL_CERT_FILE"))
        #expect(try CASource.resolve(environment: ["SSL_CERT_DIR": "/etc/ssl/certs"]) == .directory("/etc/ssl/certs", from: "SSL_CERT_DIR"))
    }

    @Test func aMissingExplicitBundleIsAConfigurationError() {
        #expect {
            try CASource.resolve(environment: ["SSL_CERT_FILE": "/nonexistent/ca.pem"])
        } throws: { e in
            let e = e as! EntrypointError
            return e.code == .config && e.message.contains("SSL_CERT_FILE=/nonexistent/ca.pem")
        }
    }

    @Test func wellKnownPathsAreSearchedThenTheEmbeddedBundle() throws {
        let source = try CASource.resolve(environment: [:])
        if let path = CASource.wellKnownFiles.first(where: { FileManager.default.fileExists(atPath: $0) }) {
            #expect(source == .file(path, from: "well-known path"))
        } else {
            guard case .embedded = source else {
                Issue.record("expected the embedded bundle, got \(source)")
                return
            }
        }
        #expect(CASource.wellKnownFiles.contains("/etc/ssl/cert.pem"), "Alpine")
        #expect(CASource.wellKnownFiles.contains("/etc/pki/tls/certs/ca-bundle.crt"), "RHEL family")
    }
}
