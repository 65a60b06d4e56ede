/* json.h — parsing and reading JSON from the network, on jansson.
 *
 * Wraps jansson so every service rejects bad documents the same way: a size
 * limit, an object at the top, and typed field readers whose errors name the
 * field ("field 'title' must be a string"), ready for a 400 response. */
#ifndef MCLOUD_JSON_H
#define MCLOUD_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define MC_JSON_MAX_BYTES (1024 * 1024)

/* Parses buf (not NUL-terminated) into a JSON object. Errors: MC_ERR_INVALID
 * with line and column, or when the document is too large or not an object. */
json_t *mc_json_parse_object(const char *buf, size_t len, mc_err *err);

/* Field readers. A missing field is an error when required; otherwise the
 * fallback is returned and no error is set. */
int mc_json_get_string(json_t *obj, const char *field, bool required, const char *fallback,
                       const char **out, mc_err *err);
int mc_json_get_int(json_t *obj, const char *field, bool required, long long fallback,
                    long long min, long long max, long long *out, mc_err *err);
int mc_json_get_bool(json_t *obj, const char *field, bool required, bool fallback, bool *out,
                     mc_err *err);

/* A JSON string of any bytes (e.g. an error message quoting client input):
 * the bytes themselves when they are UTF-8, else a copy with every byte
 * from 0x80 up replaced by '?' (JSON cannot carry invalid UTF-8). NULL only
 * when out of memory. */
json_t *mc_json_string_lossy(const char *s, size_t len);

/* Compact serialization; caller frees. */
char *mc_json_dump(const json_t *value);

/* The body of an RFC 9457 problem, the one error shape of every mcloud API:
 * {"type": MC_PROBLEM_TYPE_BASE + code, "title", "status", "detail" (made
 * valid UTF-8), "code"} set on into (a new object when NULL). NULL when out
 * of memory. */
#define MC_PROBLEM_TYPE_BASE "https://mcloud.dev/problems/"
json_t *mc_json_problem(json_t *into, int status, const char *code, const char *title, const char *detail);

#endif
