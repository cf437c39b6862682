// What `entrypoint --version` reports: the version and commit injected at build time
// (scripts/build-static.sh writes Sources/CShims/build_info.inc) and libcurl's own run-time
// version strings (curl_version_info is a C struct whose field layout Swift should not depend on).
#ifndef ENTRYPOINT_BUILD_INFO_H
#define ENTRYPOINT_BUILD_INFO_H

/// The release version ("0.1.0" unless the build set ENTRYPOINT_VERSION).
const char *_Nonnull ep_build_version(void);
/// The git commit the binary was built from (40 hex digits, "-dirty" when the work tree had
/// changes), or "unknown" (a build outside scripts/build-static.sh, or without git).
const char *_Nonnull ep_build_commit(void);
/// curl_version_info(CURLVERSION_NOW)->version of the linked libcurl, e.g. "7.88.1".
const char *_Nonnull ep_curl_version(void);
/// The TLS library libcurl was built with, as libcurl names it (e.g. "OpenSSL/3.0.17"), or "".
const char *_Nonnull ep_curl_ssl_version(void);

#endif
