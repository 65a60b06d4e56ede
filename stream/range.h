/* range.h — the request headers of a GET that select what is sent (RFC 9110
 * §13 and §14): Range (bytes ranges), If-Range, If-None-Match,
 * If-Modified-Since, If-Match and If-Unmodified-Since (dates through
 * common/http_date). Pure functions over header values (NULL = header absent), so the
 * parser facing the network is unit-tested and fuzzed (fuzz_range).
 *
 * Policy (the Range conformance table in docs compares it with nginx):
 * - a Range header that does not parse, or names a unit other than bytes,
 *   is ignored (200 with the whole representation), as RFC 9110 §14.2 says;
 * - each range is clamped to the representation; unsatisfiable ones (first
 *   byte past the end, "-0") are dropped; none left → 416;
 * - more than MC_RANGE_MAX ranges, or ranges that overlap or are out of
 *   order (a denial-of-service shape, §14.2 "SHOULD ignore or coalesce"),
 *   are handled as documented in range.c;
 * - numbers too large for 64 bits are unsatisfiable positions, not errors. */
#ifndef MCLOUD_STREAM_RANGE_H
#define MCLOUD_STREAM_RANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/http_date.h" /* If-Range and If-*-Since dates */

#define MC_RANGE_MAX 16

typedef struct mc_byte_range {
    uint64_t first, last; /* inclusive, within the representation */
} mc_byte_range;

typedef enum mc_range_result {
    MC_RANGE_WHOLE = 0,     /* no usable Range: 200 with everything */
    MC_RANGE_PARTIAL,       /* 206 with ranges[0..count) (count > 1: multipart/byteranges) */
    MC_RANGE_UNSATISFIABLE  /* 416 with Content-Range: bytes * / length */
} mc_range_result;

typedef struct mc_range_set {
    size_t count;
    mc_byte_range ranges[MC_RANGE_MAX];
} mc_range_set;

/* value: the Range header (NULL when absent); length: the representation's size. */
mc_range_result mc_range_parse(const char *value, uint64_t length, mc_range_set *out);

typedef enum mc_precondition {
    MC_PRECONDITION_PROCEED = 0, /* serve (Range still applies) */
    MC_PRECONDITION_NOT_MODIFIED,/* 304 */
    MC_PRECONDITION_FAILED       /* 412 */
} mc_precondition;

typedef struct mc_validators {
    const char *etag;     /* strong, with its quotes: "\"abc-3\"" */
    time_t last_modified; /* 0: unknown */
} mc_validators;

typedef struct mc_conditional_headers {
    const char *if_match, *if_none_match, *if_modified_since, *if_unmodified_since;
} mc_conditional_headers;

/* RFC 9110 §13.2.2 order for GET and HEAD. */
mc_precondition mc_precondition_evaluate(const mc_conditional_headers *h, const mc_validators *v);

/* If-Range (§13.1.5): true when the Range header may be honoured (no If-Range,
 * or it names the current strong ETag, or an HTTP-date equal to
 * Last-Modified); false → send the whole representation with 200. */
bool mc_if_range_allows(const char *if_range, const mc_validators *v);

#endif
