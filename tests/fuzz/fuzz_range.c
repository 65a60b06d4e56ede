/* Fuzz target: the request headers and path mcloud-stream parses
 * (stream/range.h, stream/paths.h). The input is split on '\n' into
 *   length, Range, If-Match, If-None-Match, If-Modified-Since,
 *   If-Unmodified-Since, If-Range, request path
 * (a missing field is an absent header; length is decimal, saturating, and
 * a value that does not parse is 1000). Each field is an exact-size copy, so
 * a read past its end is caught. Besides surviving any input, results must
 * keep their promises: ranges lie inside the representation, add up to no
 * more than it and number at most MC_RANGE_MAX; a parsed date formats and
 * parses back to itself; an accepted path names an output or the page. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stream/paths.h"
#include "stream/range.h"

enum { F_LENGTH, F_RANGE, F_IF_MATCH, F_IF_NONE_MATCH, F_IMS, F_IUS, F_IF_RANGE, F_PATH, F_COUNT };

#define YEAR_1_START (-62135596800LL) /* 0001-01-01T00:00:00Z */

static uint64_t parse_length(const char *s) {
    if (!s || !*s) return 1000;
    uint64_t n = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 1000;
        unsigned d = (unsigned)(*s - '0');
        n = n > (UINT64_MAX - d) / 10 ? UINT64_MAX : n * 10 + d;
    }
    return n;
}

static void check_ranges(const char *value, uint64_t length) {
    mc_range_set set;
    mc_range_result r = mc_range_parse(value, length, &set);
    if (r != MC_RANGE_PARTIAL) {
        if (set.count != 0) __builtin_trap();
        if (r != MC_RANGE_WHOLE && r != MC_RANGE_UNSATISFIABLE) __builtin_trap();
        if (!value && r != MC_RANGE_WHOLE) __builtin_trap();
        return;
    }
    if (set.count == 0 || set.count > MC_RANGE_MAX) __builtin_trap();
    uint64_t total = 0;
    for (size_t i = 0; i < set.count; i++) {
        const mc_byte_range *b = &set.ranges[i];
        if (b->first > b->last || b->last >= length) __builtin_trap();
        uint64_t size = b->last - b->first + 1;
        if (size > length - total) __builtin_trap();
        total += size;
    }
}

static void check_date(const char *value) {
    time_t t;
    if (!value || mc_http_date_parse(value, &t) != 0) return;
    if (t < YEAR_1_START) return; /* year 0000: not formatted */
    char out[MC_HTTP_DATE_LEN];
    mc_http_date_format(t, out);
    time_t back;
    if (mc_http_date_parse(out, &back) != 0 || back != t) __builtin_trap();
}

static void check_preconditions(char *const f[F_COUNT]) {
    const mc_validators v = {.etag = "\"5f3a-1000\"", .last_modified = 784111777};
    mc_conditional_headers h = {.if_match = f[F_IF_MATCH], .if_none_match = f[F_IF_NONE_MATCH],
                                .if_modified_since = f[F_IMS], .if_unmodified_since = f[F_IUS]};
    mc_precondition p = mc_precondition_evaluate(&h, &v);
    if (p != MC_PRECONDITION_PROCEED && p != MC_PRECONDITION_NOT_MODIFIED &&
        p != MC_PRECONDITION_FAILED)
        __builtin_trap();
    if (!h.if_match && !h.if_none_match && !h.if_modified_since && !h.if_unmodified_since &&
        p != MC_PRECONDITION_PROCEED)
        __builtin_trap();
    const char *if_range = f[F_IF_RANGE];
    bool allows = mc_if_range_allows(if_range, &v);
    if (!if_range && !allows) __builtin_trap();
    const mc_validators none = {.etag = NULL, .last_modified = 0};
    if (if_range && mc_if_range_allows(if_range, &none)) __builtin_trap();
}

static void check_path(const char *value, size_t len) {
    if (!value) return;
    mc_stream_target t;
    if (mc_stream_target_parse(value, len, &t) != 0) {
        if (t.content_type || t.video[0] || t.path[0]) __builtin_trap();
        return;
    }
    if (strlen(t.video) != MC_VIDEO_ID_LEN || !t.cred[0] || !t.content_type) __builtin_trap();
    if (t.path[0] && !mc_stream_output_path_valid(t.path)) __builtin_trap();
    if (strstr(t.path, "..") || strstr(t.path, "//") || strchr(t.path, '\\') || t.path[0] == '/')
        __builtin_trap();
    if (strchr(t.cred, '/') || t.cred[0] == '.') __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *f[F_COUNT] = {0};
    size_t lens[F_COUNT] = {0};
    size_t start = 0;
    for (int i = 0; i < F_COUNT && start <= size; i++) {
        const uint8_t *nl = memchr(data + start, '\n', size - start);
        size_t end = nl ? (size_t)(nl - data) : size;
        /* The path is the rest (it may hold '\n' and NUL); other fields stop
         * at their first NUL, as C strings. */
        if (i == F_PATH) end = size;
        lens[i] = end - start;
        f[i] = malloc(lens[i] + 1);
        memcpy(f[i], data + start, lens[i]);
        f[i][lens[i]] = '\0';
        start = end + 1;
    }
    uint64_t length = parse_length(f[F_LENGTH]);
    check_ranges(f[F_RANGE], length);
    check_ranges(f[F_RANGE], 0);
    check_ranges(f[F_RANGE], UINT64_MAX);
    check_date(f[F_IMS]);
    check_date(f[F_IUS]);
    check_date(f[F_IF_RANGE]);
    check_preconditions(f);
    check_path(f[F_PATH], lens[F_PATH]);
    for (int i = 0; i < F_COUNT; i++) free(f[i]);
    return 0;
}
