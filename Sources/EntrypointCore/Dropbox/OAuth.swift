// The authorization-code grant without a redirect (entrypoint --authorize): the authorize URL with
// PKCE (S256) or for an app secret, the exchange of the pasted code at /oauth2/token, and one
// authenticated call (users/get_current_account) to check the new token. Retries as for the refresh.
import CCurl
import CShims
import Glibc

/// PKCE (RFC 7636): a random verifier and its S256 challenge.
struct PKCE: Sendable {
    /// 64 characters of [A-Za-z0-9-._~] from the system's cryptographic generator (getrandom).
    let verifier: String
    /// BASE64URL(SHA256(verifier)) without padding.
    var challenge: String { Self.challenge(for: verifier) }

    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)

    init(verifier: String) { self.verifier = verifier }

    /// A new verifier. SystemRandomNumberGenerator is getrandom(2) on Linux: cryptographically secure.
    static func random(length: Int = 64) -> PKCE {
        var rng = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        for _ in 0..<length { bytes.append(alphabet.randomElement(using: &rng)!) }
        return PKCE(verifier: String(decoding: bytes, as: UTF8.self))
    }

    static func challenge(for verifier: String) -> String {
        let sha = SHA256()
        let bytes = Array(verifier.utf8)
        bytes.withUnsafeBytes { sha.update($0) }
        return Base64URL.encode(sha.finish())
    }
}

enum OAuth {
    /// Dropbox's authorize page; DROPBOX_AUTHORIZE_URL overrides it (tests: the fake's page).
    static let defaultAuthorizeURL = "https://www.dropbox.com/oauth2/authorize"
    /// The permissions entrypoint needs: restore (metadata, content read) and backup (content write).
    static let restoreScopes = ["files.metadata.read", "files.content.read"]
    static let backupScopes = ["files.content.write"]

    /// The authorize URL of the flow without a redirect: Dropbox shows the code to the user.
    static func authorizeURL(base: String, appKey: String, pkce: PKCE?) -> String {
        var fields = [("client_id", appKey), ("response_type", "code"), ("token_access_type", "offline")]
        if let pkce {
            fields += [("code_challenge", pkce.challenge), ("code_challenge_method", "S256")]
        }
        return base + "?" + fields.map { "\($0.0)=\(formEncode($0.1))" }.joined(separator: "&")
    }
}

/// What a successful code exchange returned.
struct IssuedTokens {
    let accessToken: String
    let refreshToken: String
    /// The permissions granted (space-separated `scope`), when Dropbox said.
    let scopes: [String]?
}

extension DropboxClient {
    /// POST /oauth2/token grant_type=authorization_code, with the secret or the PKCE verifier.
    func exchangeCode(_ code: String, appKey: String, secret: String?, verifier: String?) throws(EntrypointError) -> IssuedTokens {
        var fields = [("grant_type", "authorization_code"), ("code", code), ("client_id", appKey)]
        if let secret { fields.append(("client_secret", secret)) }
        if let verifier { fields.append(("code_verifier", verifier)) }
        let what = "authorization code exchange"
        let json = try tokenRequest(what, fields: fields) { status, code, detail in
            switch code {
            case "invalid_grant":
                EntrypointError(
                    .authRejected,
                    "Dropbox rejected the authorization code (HTTP \(status) \(detail)); a code works once and only for a few minutes: run entrypoint --authorize again and paste the new code"
                )
            case "invalid_client":
                EntrypointError(
                    .authRejected,
                    "Dropbox rejected DROPBOX_APP_KEY\(secret == nil ? "" : " or DROPBOX_APP_SECRET") (HTTP \(status) \(detail)); copy them from the app's Settings page in the Dropbox App Console"
                )
            default:
                EntrypointError(.authRejected, "\(what) refused: HTTP \(status) \(detail)")
            }
        }
        let access = json["access_token"]?.string ?? ""
        log.addSecrets([access])
        guard let refresh = json["refresh_token"]?.string, !refresh.isEmpty else {
            throw EntrypointError(.unavailable, "\(what): Dropbox issued no refresh_token (the authorize URL needs token_access_type=offline)")
        }
        log.addSecrets([refresh])
        let scopes = json["scope"]?.string.map { $0.split(separator: " ").map(String.init) }
        return IssuedTokens(accessToken: access, refreshToken: refresh, scopes: scopes)
    }

    /// POST /2/users/get_current_account (body null) with `accessToken`: the account, or an error.
    func currentAccount(accessToken: String) throws(EntrypointError) -> JSON {
        let route = "users/get_current_account"
        let url = config.apiURL + "/2/" + route
        let response: HTTPResponse = try withRetry(route) { () throws(EntrypointError) -> Attempt<HTTPResponse> in
            let response: HTTPResponse
            do throws(TransportError) {
                response = try curl.perform(
                    method: "POST", url: url,
                    headers: ["Authorization: Bearer \(accessToken)", "Content-Type: application/json"],
                    body: .bytes(Array("null".utf8)), deadline: deadline, sink: nil, progress: nil)
            } catch {
                return try transportAttempt(error, route)
            }
            if case .retry(let after, let reason, _, _) = Self.classify(response) { return .retry(after: after, reason: reason) }
            return .done(response)
        }
        switch response.status {
        case 200:
            guard let json = response.json else { throw EntrypointError(.unavailable, "\(route): the answer is not JSON") }
            return json
        case 401, 403:
            throw EntrypointError(.authRejected, "Dropbox rejected the new access token for \(route) (HTTP \(response.status) \(Self.summary(response)))")
        default:
            throw EntrypointError(.unavailable, "Dropbox refused \(route): HTTP \(response.status) \(Self.summary(response))")
        }
    }
}
