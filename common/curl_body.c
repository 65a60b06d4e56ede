/* curl_body.c — gathering a small answer body (see curl_body.h). */
#include "common/curl_body.h"

#include <stdlib.h>
#include <string.h>

size_t mc_curl_body_write(char *data, size_t size, size_t n, void *body) {
    mc_curl_body *b = body;
    size_t len = size * n;
    if (b->max && b->len + len > b->max) return 0;
    char *p = realloc(b->p, b->len + len + 1);
    if (!p) return 0;
    memcpy(p + b->len, data, len);
    b->p = p;
    b->len += len;
    p[b->len] = '\0';
    return len;
}
