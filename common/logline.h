/* logline.h — the lines of the central log (Kafka topic mcloud.logs): what
 * the node agent makes of a container's output line, and how `mcloud logs`
 * selects and prints them. Pure functions (no I/O), shared by the agent, the
 * CLI, their unit test and a fuzz target, as the CLI's flags are operator
 * input.
 *
 * A shipped line is one JSON object: the container's own JSON line (the
 * services write JSON lines, common/log.c), or {"msg": LINE} for a line that
 * is not a JSON object, plus "node", "service", "instance" and "container"
 * set by the agent ("ts" from the engine's timestamp when the line has none;
 * a different "service" of the program itself is kept as "program"). The
 * message key is "<service>/<instance>". */
#ifndef MCLOUD_LOGLINE_H
#define MCLOUD_LOGLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define MC_LOGLINE_TOPIC "mcloud.logs"

typedef struct mc_logline_meta {
    const char *node, *service, *instance, *container;
} mc_logline_meta;

typedef enum mc_log_rank { MC_RANK_DEBUG = 0, MC_RANK_INFO, MC_RANK_WARN, MC_RANK_ERROR } mc_log_rank;

/* A line of the engine's logs read with timestamps=1: "<RFC 3339 nano> <text>".
 * Fills *ts_ns (ns since the epoch) and *text, *text_len. -1 when the line
 * does not start with such a timestamp. */
int mc_logline_split_ts(const char *line, size_t len, int64_t *ts_ns, const char **text, size_t *text_len);

/* The shipped JSON text of one container line (malloc'd, no newline); NULL
 * only when out of memory. Invalid UTF-8 is replaced, never refused. */
char *mc_logline_enrich(const char *text, size_t len, const mc_logline_meta *m, int64_t ts_ns);

/* Operator input: a duration "N" + s|m|h|d ("10m"): *out in milliseconds. */
int mc_logline_parse_duration(const char *s, int64_t *out_ms, mc_err *err);
/* "debug", "info", "warn" (or "warning"), "error". */
int mc_logline_parse_level(const char *s, mc_log_rank *out, mc_err *err);

/* What `mcloud logs` selects. */
typedef struct mc_logline_query {
    const char *target;   /* a service or an instance name (NULL: every line) */
    const char *grep;     /* substring of the line's text (NULL: any) */
    mc_log_rank min_level;
    int64_t since_ms;     /* message timestamp at or after (0: any) */
} mc_logline_query;

/* Whether a message (key "<service>/<instance>", value the shipped JSON,
 * ts_ms its Kafka timestamp) is selected by q. */
bool mc_logline_match(const mc_logline_query *q, const char *key, size_t keylen, const char *value, size_t len,
                      int64_t ts_ms);

/* One line for people: "TS NODE INSTANCE LEVEL MSG k=v ..." into out (cap
 * bytes, truncated, NUL-terminated); a value that is no JSON object is
 * printed as is. Returns the length written. */
size_t mc_logline_format(const char *value, size_t len, char *out, size_t cap);

#endif
