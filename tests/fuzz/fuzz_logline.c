/* Fuzz target: the central log's lines (common/logline.h). The input is
 * split at its first NUL into an operator's flag value (--since, --level,
 * --grep) and a line: an engine log line (timestamp split, enriched as the
 * agent ships it) and a Kafka message value (selected and printed as
 * `mcloud logs` does). Whatever the bytes, the shipped line must be a JSON
 * object carrying the agent's fields, and nothing may crash. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/logline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t flen = nul ? (size_t)(nul - data) : 0;
    char *flag = malloc(flen + 1);
    memcpy(flag, data, flen);
    flag[flen] = '\0';
    const char *line = (const char *)(nul ? nul + 1 : data);
    size_t len = nul ? size - flen - 1 : size;
    char *copy = malloc(len ? len : 1); /* exact size: a read past the end is caught */
    memcpy(copy, line, len);

    mc_err err = {0};
    int64_t ms;
    mc_log_rank r = MC_RANK_DEBUG;
    if (mc_logline_parse_duration(flag, &ms, &err) == 0 && ms < 0) __builtin_trap();
    if (mc_logline_parse_level(flag, &r, &err) < 0 && err.kind != MC_ERR_INVALID) __builtin_trap();

    int64_t ns = 0;
    const char *text = copy;
    size_t tlen = len;
    if (mc_logline_split_ts(copy, len, &ns, &text, &tlen) == 0 && (text < copy || text + tlen > copy + len))
        __builtin_trap();
    mc_logline_meta m = {"node-1", "svc", "svc-0", "cid"};
    char *out = mc_logline_enrich(text, tlen, &m, ns);
    if (out) {
        json_t *o = json_loads(out, 0, NULL);
        if (!json_is_object(o) || !json_is_string(json_object_get(o, "instance"))) __builtin_trap();
        json_decref(o);
        mc_logline_query q = {.target = flag, .grep = flag, .min_level = r, .since_ms = 1};
        mc_logline_match(&q, "svc/svc-0", 9, out, strlen(out), 2);
        free(out);
    }
    mc_logline_query q = {.target = "svc", .grep = flag, .min_level = MC_RANK_WARN};
    mc_logline_match(&q, copy, len, copy, len, 0);
    char buf[512];
    mc_logline_format(copy, len, buf, sizeof buf);
    free(copy);
    free(flag);
    return 0;
}
