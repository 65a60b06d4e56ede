/* json.c — strict reading of JSON documents that arrive from the network. */
#include "common/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *mc_json_parse_object(const char *buf, size_t len, mc_err *err) {
    if (len > MC_JSON_MAX_BYTES) {
        mc_err_set(err, MC_ERR_INVALID, "JSON document is %zu bytes; the limit is %d", len,
                   MC_JSON_MAX_BYTES);
        return NULL;
    }
    if (!buf || len == 0) {
        mc_err_set(err, MC_ERR_INVALID, "empty body: a JSON object was expected");
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        mc_err_set(err, MC_ERR_INVALID, "invalid JSON at line %d column %d: %s", jerr.line,
                   jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        mc_err_set(err, MC_ERR_INVALID, "a JSON object was expected at the top level");
        return NULL;
    }
    return root;
}

static json_t *field_or_missing(json_t *obj, const char *field, bool required, mc_err *err,
                                int *rc) {
    json_t *v = json_object_get(obj, field);
    *rc = 0;
    if (!v || json_is_null(v)) {
        if (required) *rc = mc_err_set(err, MC_ERR_INVALID, "field '%s' is required", field);
        return NULL;
    }
    return v;
}

int mc_json_get_string(json_t *obj, const char *field, bool required, const char *fallback,
                       const char **out, mc_err *err) {
    int rc;
    json_t *v = field_or_missing(obj, field, required, err, &rc);
    if (!v) {
        *out = fallback;
        return rc;
    }
    if (!json_is_string(v)) return mc_err_set(err, MC_ERR_INVALID, "field '%s' must be a string", field);
    *out = json_string_value(v);
    return 0;
}

int mc_json_get_int(json_t *obj, const char *field, bool required, long long fallback,
                    long long min, long long max, long long *out, mc_err *err) {
    int rc;
    json_t *v = field_or_missing(obj, field, required, err, &rc);
    if (!v) {
        *out = fallback;
        return rc;
    }
    if (!json_is_integer(v)) return mc_err_set(err, MC_ERR_INVALID, "field '%s' must be an integer", field);
    long long n = json_integer_value(v);
    if (n < min || n > max)
        return mc_err_set(err, MC_ERR_INVALID, "field '%s' must be between %lld and %lld", field,
                          min, max);
    *out = n;
    return 0;
}

int mc_json_get_bool(json_t *obj, const char *field, bool required, bool fallback, bool *out,
                     mc_err *err) {
    int rc;
    json_t *v = field_or_missing(obj, field, required, err, &rc);
    if (!v) {
        *out = fallback;
        return rc;
    }
    if (!json_is_boolean(v)) return mc_err_set(err, MC_ERR_INVALID, "field '%s' must be true or false", field);
    *out = json_is_true(v);
    return 0;
}

json_t *mc_json_string_lossy(const char *s, size_t len) {
    json_t *j = json_stringn(s, len);
    if (j) return j;
    char *copy = malloc(len + 1);
    if (!copy) return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        copy[i] = (c >= 0x80 || c == '\0') ? '?' : (char)c;
    }
    j = json_stringn(copy, len);
    free(copy);
    return j;
}

char *mc_json_dump(const json_t *value) {
    return json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
}

json_t *mc_json_problem(json_t *into, int status, const char *code, const char *title, const char *detail) {
    json_t *p = into ? into : json_object();
    if (!p) return NULL;
    char type[128];
    snprintf(type, sizeof type, "%s%s", MC_PROBLEM_TYPE_BASE, code);
    json_object_set_new(p, "type", json_string(type));
    json_object_set_new(p, "title", json_string(title));
    json_object_set_new(p, "status", json_integer(status));
    json_object_set_new(p, "detail", mc_json_string_lossy(detail, strlen(detail)));
    json_object_set_new(p, "code", json_string(code));
    return p;
}
