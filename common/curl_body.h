/* curl_body.h — one small HTTP request with libcurl whose answer is gathered
 * in memory, NUL-terminated, up to a bound: the platform's own JSON and text
 * APIs (the orchestrator's orders to agents, the operator and consumer API
 * commands of the CLI). One place sets the method, headers, body, timeout and
 * bound, so every caller fails the same way. Bodies to stream go elsewhere
 * (common/s3). */
#ifndef MCLOUD_CURL_BODY_H
#define MCLOUD_CURL_BODY_H

#include <stddef.h>

#include "common/error.h"

typedef struct mc_curl_body {
    char *p;       /* malloc'd, NUL-terminated; NULL until a byte came */
    size_t len;
    size_t max;    /* larger bodies fail the transfer; 0: no bound */
} mc_curl_body;

/* CURLOPT_WRITEFUNCTION with CURLOPT_WRITEDATA an mc_curl_body; also a
 * plain appender (size 1, n bytes). Returns size * n, or 0 (over max, out
 * of memory) to fail the transfer. */
size_t mc_curl_body_write(char *data, size_t size, size_t n, void *body);

/* One request. headers: NULL-terminated "Name: value" lines, or NULL. */
typedef struct mc_curl_request {
    const char *method;
    const char *url;
    const char *const *headers;
    const char *body;   /* sent as is (POSTFIELDS), or NULL */
    long timeout_ms;
    size_t max;         /* the answer's bound; 0: 1 MiB */
} mc_curl_request;

/* Performs it. When an answer came: 0, *status its HTTP status and, when
 * answer is not NULL, *answer its body (malloc'd, "" when empty; the caller
 * frees). When none came (refused, timed out, too large): -1 with err
 * MC_ERR_UNAVAILABLE naming the method, the URL and curl's reason. */
int mc_curl_perform(const mc_curl_request *r, long *status, char **answer, mc_err *err);

#endif
