/* curl_body.c — one small request, its answer gathered (see curl_body.h). */
#include "common/curl_body.h"

#include <curl/curl.h>

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

int mc_curl_perform(const mc_curl_request *r, long *status, char **answer, mc_err *err) {
    *status = 0;
    if (answer) *answer = NULL;
    CURL *c = curl_easy_init();
    if (!c) return mc_err_set(err, MC_ERR_INTERNAL, "curl_easy_init failed");
    struct curl_slist *h = NULL;
    for (const char *const *l = r->headers; l && *l; l++) {
        struct curl_slist *n = curl_slist_append(h, *l);
        if (!n) {
            curl_slist_free_all(h);
            curl_easy_cleanup(c);
            return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        }
        h = n;
    }
    mc_curl_body b = {.max = r->max ? r->max : 1024 * 1024};
    curl_easy_setopt(c, CURLOPT_URL, r->url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, r->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, mc_curl_body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (r->body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body);
    CURLcode cc = curl_easy_perform(c);
    int rc = 0;
    if (cc != CURLE_OK) rc = mc_err_set(err, MC_ERR_UNAVAILABLE, "%s %s: %s", r->method, r->url, curl_easy_strerror(cc));
    else curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (rc == 0 && answer) *answer = b.p ? b.p : calloc(1, 1);
    else free(b.p);
    return rc;
}
