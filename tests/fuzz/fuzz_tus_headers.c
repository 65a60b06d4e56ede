/* Fuzz target: the tus header parsers of upload/tus_headers.h. The first
 * byte picks the parser, the rest is the header value. Besides surviving any
 * input, accepted values must keep their promises: integers print back as
 * their digits, metadata formats and re-parses to the same pairs, concat ids
 * are valid ids, checksum digests have the algorithm's length, and a
 * refusal always carries a status and a message. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upload/tus_headers.h"

enum {
    PICK_RESUMABLE,
    PICK_OFFSET,
    PICK_LENGTH,
    PICK_DEFER_LENGTH,
    PICK_CONTENT_TYPE,
    PICK_METHOD_OVERRIDE,
    PICK_METADATA,
    PICK_CONCAT,
    PICK_UPLOAD_URL,
    PICK_CHECKSUM,
    PICK_HTTP_DATE,
    PICK_COUNT
};

static void check_refusal(const mc_err *err) {
    if (err->msg[0] == '\0' || err->kind != MC_ERR_INVALID) __builtin_trap();
    if (err->status != 400 && err->status != 412 && err->status != 415) __builtin_trap();
}

static void check_integer(const char *v, size_t len, int64_t n) {
    size_t zeros = 0;
    while (zeros + 1 < len && v[zeros] == '0') zeros++;
    char digits[32];
    int printed = snprintf(digits, sizeof digits, "%lld", (long long)n);
    if ((size_t)printed != len - zeros || memcmp(digits, v + zeros, len - zeros) != 0) __builtin_trap();
}

static void check_metadata(const mc_tus_metadata *m) {
    char *text = NULL;
    mc_err err = {0};
    if (mc_tus_format_metadata(m->pairs, m->count, &text, &err)) __builtin_trap();
    mc_tus_metadata again;
    if (mc_tus_parse_metadata(text, strlen(text), &again, &err)) __builtin_trap();
    if (again.count != m->count) __builtin_trap();
    for (size_t i = 0; i < m->count; i++) {
        const mc_tus_meta_pair *a = &m->pairs[i], *b = &again.pairs[i];
        if (strcmp(a->key, b->key) != 0 || a->value_len != b->value_len ||
            memcmp(a->value, b->value, a->value_len) != 0)
            __builtin_trap();
        if (mc_tus_metadata_get(m, a->key) != a) __builtin_trap();
    }
    mc_tus_metadata_free(&again);
    free(text);
}

static int parse(int pick, const char *v, size_t len, mc_err *err) {
    int64_t n;
    const char *method;
    char id[MC_TUS_ID_MAX + 1];
    switch (pick) {
    case PICK_RESUMABLE:
        return mc_tus_parse_resumable(v, len, err);
    case PICK_OFFSET:
    case PICK_LENGTH: {
        int rc = pick == PICK_OFFSET ? mc_tus_parse_offset(v, len, &n, err)
                                     : mc_tus_parse_length(v, len, &n, err);
        if (rc == 0) check_integer(v, len, n);
        return rc;
    }
    case PICK_DEFER_LENGTH:
        return mc_tus_parse_defer_length(v, len, err);
    case PICK_CONTENT_TYPE:
        return mc_tus_check_content_type(v, len, err);
    case PICK_METHOD_OVERRIDE:
        return mc_tus_parse_method_override(v, len, &method, err);
    case PICK_METADATA: {
        mc_tus_metadata m;
        int rc = mc_tus_parse_metadata(v, len, &m, err);
        if (rc == 0) check_metadata(&m);
        mc_tus_metadata_free(&m);
        return rc;
    }
    case PICK_CONCAT: {
        static mc_tus_concat c;
        int rc = mc_tus_parse_concat(v, len, "/files/", "tus.example.org", &c, err);
        for (size_t i = 0; rc == 0 && i < c.count; i++)
            if (!mc_tus_id_valid(c.ids[i], strlen(c.ids[i]))) __builtin_trap();
        return rc;
    }
    case PICK_UPLOAD_URL: {
        int rc = mc_tus_parse_upload_url(v, len, "/files", NULL, id, err);
        if (rc == 0 && !mc_tus_id_valid(id, strlen(id))) __builtin_trap();
        return rc;
    }
    case PICK_CHECKSUM: {
        mc_tus_checksum c;
        int rc = mc_tus_parse_checksum(v, len, &c, err);
        if (rc == 0 && c.digest_len != mc_checksum_digest_len(c.alg)) __builtin_trap();
        return rc;
    }
    default: { /* PICK_HTTP_DATE: the value's first 8 bytes as unix seconds */
        int64_t t = 0;
        memcpy(&t, v, len < sizeof t ? len : sizeof t);
        char date[MC_TUS_HTTP_DATE_SIZE];
        if (mc_tus_format_http_date(t, date, err) == 0 && strlen(date) != 29) __builtin_trap();
        return 0;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    int pick = data[0] % PICK_COUNT;
    /* An exact-size copy, so any read past the value's length is caught. */
    size_t len = size - 1;
    char *v = malloc(len ? len : 1);
    memcpy(v, data + 1, len);
    mc_err err = {0};
    if (parse(pick, v, len, &err) != 0) check_refusal(&err);
    free(v);
    return 0;
}
