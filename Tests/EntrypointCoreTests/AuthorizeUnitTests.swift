// --authorize: PKCE (RFC 7636), base64url (RFC 4648), the authorize URL and the option.
import Testing

@testable import EntrypointCore

@Suite struct AuthorizeUnitTests {
    @Test func base64URLVectors() {
        // RFC 4648 section 10, in the URL alphabet without padding.
        let vectors = ["": "", "f": "Zg", "fo": "Zm8", "foo": "Zm9v", "foob": "Zm9vYg", "fooba": "Zm9vYmE", "foobar": "Zm9vYmFy"]
        for (input, output) in vectors { #expect(Base64URL.encode(Array(input.utf8)) == output, "\(input)") }
        #expect(Base64URL.encode([0xFB, 0xFF, 0xBF]) == "-_-_")
    }

    @Test func pkceChallengeIsTheRFC7636Example() {
        // RFC 7636 appendix B.
        #expect(PKCE.challenge(for: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    }

    @Test func verifiersAreRandomAndWellFormed() {
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        var seen = Set<String>()
        for _ in 0..<50 {
            let v = PKCE.random().verifier
            #expect((43...128).contains(v.count))
            #expect(v.allSatisfy { allowed.contains($0) }, "\(v)")
            seen.insert(v)
        }
        #expect(seen.count == 50)
        #expect(PKCE.random().challenge.count == 43)
    }

    @Test func authorizeURL() {
        let pkce = PKCE(verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        #expect(
            OAuth.authorizeURL(base: OAuth.defaultAuthorizeURL, appKey: "abc123", pkce: pkce)
                == "https://www.dropbox.com/oauth2/authorize?client_id=abc123&response_type=code&token_access_type=offline&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
        )
        #expect(
            OAuth.authorizeURL(base: "https://x/a", appKey: "k y&z=", pkce: nil)
                == "https://x/a?client_id=k%20y%26z%3D&response_type=code&token_access_type=offline")
    }

    @Test func option() throws {
        #expect(try Invocation(arguments: ["--authorize"]).mode == .authorize)
        for bad in [["--authorize", "app"], ["--authorize", "--check"], ["--backup", "--authorize"], ["--authorize", "--hash", "f"]] {
            #expect(throws: EntrypointError.self) { try Invocation(arguments: bad) }
            #expect((try? Invocation(arguments: bad)) == nil)
        }
        #expect(Invocation.usage.contains("--authorize"))
    }
}
