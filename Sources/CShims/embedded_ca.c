#include "shims.h"

#if __has_include("embedded_ca.inc")
#include "embedded_ca.inc"
#else
static const unsigned char ep_embedded_ca_data[] = {0x00};
#endif

const unsigned char *ep_embedded_ca(size_t *length) {
    *length = sizeof ep_embedded_ca_data - 1; /* without the terminating NUL */
    return ep_embedded_ca_data;
}
