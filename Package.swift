// swift-tools-version:6.0
// entrypoint: restore a SQLite database from Dropbox, verified and crash-safe, then execve the app.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "entrypoint",
    products: [
        .executable(name: "entrypoint", targets: ["entrypoint"])
    ],
    targets: [
        // System libraries: thin module maps, nothing else.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // The only C code: what Swift cannot call (variadic curl_easy_setopt/getinfo, the sig_atomic_t
        // signal flag and the signal reset before exec, pipe2, sync_file_range, the embedded CA bundle).
        .target(name: "CShims", dependencies: ["CCurl"]),
        .target(
            name: "EntrypointCore",
            dependencies: ["CCurl", "CSQLite", "CCrypto", "CShims"],
            swiftSettings: strict
        ),
        .executableTarget(name: "entrypoint", dependencies: ["EntrypointCore"], swiftSettings: strict),
        // What both test targets share (never shipped, so Foundation is fine): the SQLite fixtures, the
        // fake Dropbox's process control, the binary runner and the secret-leak check.
        .target(name: "TestSupport", dependencies: ["CSQLite", "CShims"], path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(name: "EntrypointCoreTests", dependencies: ["EntrypointCore", "CSQLite", "TestSupport"], swiftSettings: strict),
        // Black-box tests: run the built `entrypoint` against a fake Dropbox (Tests/fake-dropbox) over TLS.
        .testTarget(name: "IntegrationTests", dependencies: ["entrypoint", "CSQLite", "CShims", "TestSupport"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
