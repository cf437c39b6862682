#include "build_info.h"

#include <curl/curl.h>

/* build_info.inc (git-ignored) is written by scripts/build-static.sh; it may define
 * EP_BUILD_VERSION and EP_BUILD_COMMIT as C string literals. */
#if __has_include("build_info.inc")
#include "build_info.inc"
#endif
#ifndef EP_BUILD_VERSION
#define EP_BUILD_VERSION "0.1.0"
#endif
#ifndef EP_BUILD_COMMIT
#define EP_BUILD_COMMIT "unknown"
#endif

const char *ep_build_version(void) { return EP_BUILD_VERSION; }
const char *ep_build_commit(void) { return EP_BUILD_COMMIT; }

const char *ep_curl_version(void) {
    const curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
    return info != NULL && info->version != NULL ? info->version : "unknown";
}

const char *ep_curl_ssl_version(void) {
    const curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
    return info != NULL && info->ssl_version != NULL ? info->ssl_version : "";
}
