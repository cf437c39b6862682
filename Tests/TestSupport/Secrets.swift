// The secrets every integration test configures, and the check that no output contains a secret.
public import Testing

public enum Secrets {
    public static let accessToken = "sl.TEST-ACCESS-1f3a9c"
    public static let expiredToken = "sl.TEST-EXPIRED-77ab"
    public static let appKey = "testappkey42"
    public static let appSecret = "TEST-APP-SECRET-5e6f"
    public static let refreshToken = "TEST-REFRESH-9d8c7b"
    public static let pkceKey = "pkceappkey77"
    public static let pkceRefresh = "TEST-PKCE-REFRESH-3a2b"
    public static let issued = ["sl.TEST-ISSUED-A-1111", "sl.TEST-ISSUED-B-2222", "sl.TEST-ISSUED-C-3333"]
    public static var all: [String] { [accessToken, expiredToken, appSecret, refreshToken, pkceRefresh] + issued }
}

/// Records an issue for every one of `secrets` (default: all the test secrets) that `output` contains.
public func expectNoSecrets(
    in output: String, _ secrets: [String] = Secrets.all, sourceLocation: SourceLocation = #_sourceLocation
) {
    for secret in secrets {
        #expect(!output.contains(secret), "secret leaked into output: \(output)", sourceLocation: sourceLocation)
    }
}
