/* curl_body.h — a libcurl write callback that gathers an answer's body in
 * memory, NUL-terminated, up to a bound: for the small JSON and text
 * answers of the platform's own APIs (the orchestrator's orders to agents,
 * the operator commands). Bodies to stream go elsewhere (common/s3). */
#ifndef MCLOUD_CURL_BODY_H
#define MCLOUD_CURL_BODY_H

#include <stddef.h>

typedef struct mc_curl_body {
    char *p;       /* malloc'd, NUL-terminated; NULL until a byte came */
    size_t len;
    size_t max;    /* larger bodies fail the transfer; 0: no bound */
} mc_curl_body;

/* CURLOPT_WRITEFUNCTION with CURLOPT_WRITEDATA an mc_curl_body; also a
 * plain appender (size 1, n bytes). Returns size * n, or 0 (over max, out
 * of memory) to fail the transfer. */
size_t mc_curl_body_write(char *data, size_t size, size_t n, void *body);

#endif
