/* range.c — Range, the conditional request headers and HTTP-dates (range.h).
 *
 * Range policy. RFC 9110 leaves the handling of odd range sets to the
 * server (§14.2: "MAY ignore or reject ... more than two overlapping ranges
 * or many small ranges not in ascending order"; §15.3.7.2: "MAY coalesce").
 * We do what nginx 1.22 does (ngx_http_range_filter_module, checked against
 * Debian's nginx-light), so the conformance table shows few differences:
 * - satisfiable ranges are kept in request order, neither sorted nor
 *   coalesced: "3-4,0-1" is a two-part multipart/byteranges in that order;
 * - unsatisfiable ranges of a list are dropped; one range left → a plain 206;
 * - when the kept ranges add up to more bytes than the representation
 *   (overlap, e.g. "0-599,500-999" of 1000 bytes), the Range header is
 *   ignored: 200 with the whole representation, never more bytes than it;
 * - more than MC_RANGE_MAX satisfiable ranges → ignored (200), as nginx with
 *   "max_ranges 16" (its default is unlimited; unsatisfiable ones do not
 *   count, there as here).
 * - a zero-length representation: a range from byte 0 ("0-", "-5") gets
 *   the whole (empty) representation with 200, any other 416 (as nginx).
 * So a multipart answer is at most the representation plus MC_RANGE_MAX part
 * headers, whatever the request.
 *
 * Deliberate differences from nginx, each what RFC 9110 says:
 * - invalid syntax ("bytes=abc", "bytes=5-3", "bytes=0-1,x") is ignored
 *   (200, §14.2), where nginx answers 416; one invalid member invalidates
 *   the whole header ("bytes=5-3,0-1" → 200; nginx drops it: 206 of 0-1);
 * - empty list elements ("bytes=0-1,,3-4", "bytes=,0-1") are accepted
 *   (§5.6.1.2), where nginx answers 416;
 * - a number too large for 64 bits is a position past any end: as a first
 *   byte it is unsatisfiable (416, as nginx), as a last byte it is clamped
 *   ("bytes=0-99999999999999999999" → the whole range, 206) and as a suffix
 *   length it selects everything (206), where nginx answers 416;
 * - If-Modified-Since yields 304 when Last-Modified is at or before the date
 *   (§13.1.3); nginx's default ("if_modified_since exact") wants equality.
 * Like nginx, the unit is matched case-insensitively and blanks are allowed
 * around list elements and around '-' (nginx: spaces only; here also tabs,
 * RFC 9110's OWS). */
#include "stream/range.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool is_blank(char c) { return c == ' ' || c == '\t'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static const char *skip_blanks(const char *p) {
    while (is_blank(*p)) p++;
    return p;
}

/* Reads 1+ digits; a value beyond 64 bits saturates at UINT64_MAX (a
 * position past any representation). NULL when there is no digit. */
static const char *parse_position(const char *p, uint64_t *out) {
    if (!is_digit(*p)) return NULL;
    uint64_t n = 0;
    for (; is_digit(*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        n = n > (UINT64_MAX - d) / 10 ? UINT64_MAX : n * 10 + d;
    }
    *out = n;
    return p;
}

typedef struct range_spec {
    bool suffix;
    uint64_t first, last; /* last == UINT64_MAX when absent; suffix: first = length */
} range_spec;

/* One range-spec at p (blanks before it already skipped); returns the
 * character after it, or NULL when it does not parse. */
static const char *parse_spec(const char *p, range_spec *spec) {
    spec->suffix = *p == '-';
    if (spec->suffix) {
        p = parse_position(skip_blanks(p + 1), &spec->first);
        spec->last = UINT64_MAX;
        return p;
    }
    p = parse_position(p, &spec->first);
    if (!p) return NULL;
    p = skip_blanks(p);
    if (*p != '-') return NULL;
    p = skip_blanks(p + 1);
    spec->last = UINT64_MAX;
    if (is_digit(*p)) {
        p = parse_position(p, &spec->last);
        if (spec->last < spec->first) return NULL; /* §14.1.1: an invalid int-range */
    }
    return p;
}

/* The bytes spec selects of a non-empty representation; false when none. */
static bool resolve(const range_spec *spec, uint64_t length, mc_byte_range *out) {
    if (spec->suffix) {
        if (spec->first == 0) return false;
        out->first = spec->first >= length ? 0 : length - spec->first;
        out->last = length - 1;
        return true;
    }
    if (spec->first >= length) return false;
    out->first = spec->first;
    out->last = spec->last >= length ? length - 1 : spec->last;
    return true;
}

typedef struct range_state {
    uint64_t length, total;
    bool from_start;  /* some range starts at byte 0 (matters when length is 0) */
    bool too_many;    /* more than MC_RANGE_MAX, or more bytes than the representation */
} range_state;

static void add_range(const range_spec *spec, range_state *st, mc_range_set *out) {
    st->from_start = st->from_start || spec->suffix || spec->first == 0;
    mc_byte_range r;
    if (st->length == 0 || st->too_many || !resolve(spec, st->length, &r)) return;
    uint64_t size = r.last - r.first + 1;
    if (out->count == MC_RANGE_MAX || size > st->length - st->total) {
        st->too_many = true;
        return;
    }
    st->total += size;
    out->ranges[out->count++] = r;
}

mc_range_result mc_range_parse(const char *value, uint64_t length, mc_range_set *out) {
    out->count = 0;
    if (!value || strncasecmp(value, "bytes=", 6) != 0) return MC_RANGE_WHOLE;
    range_state st = {.length = length};
    size_t specs = 0;
    const char *p = value + 6;
    for (;;) {
        p = skip_blanks(p);
        if (*p != ',' && *p != '\0') {
            range_spec spec;
            p = parse_spec(p, &spec);
            if (!p) break;
            add_range(&spec, &st, out);
            specs++;
            p = skip_blanks(p);
        }
        if (*p == '\0') break;
        if (*p != ',') {
            p = NULL;
            break;
        }
        p++;
    }
    if (!p || specs == 0 || st.too_many) {
        out->count = 0;
        return MC_RANGE_WHOLE;
    }
    if (length == 0 && st.from_start) return MC_RANGE_WHOLE;
    return out->count ? MC_RANGE_PARTIAL : MC_RANGE_UNSATISFIABLE;
}

/* ---- entity tags (§8.8.3) -------------------------------------------------- */

static bool is_etagc(unsigned char c) { return c == 0x21 || (c >= 0x23 && c != 0x7f); }

/* One entity-tag at p; returns the character after it, or NULL. *opaque
 * points at its opening quote, *opaque_len counts both quotes. */
static const char *parse_etag(const char *p, bool *weak, const char **opaque, size_t *opaque_len) {
    *weak = p[0] == 'W' && p[1] == '/';
    if (*weak) p += 2;
    if (*p != '"') return NULL;
    const char *start = p++;
    while (is_etagc((unsigned char)*p)) p++;
    if (*p != '"') return NULL;
    p++;
    *opaque = start;
    *opaque_len = (size_t)(p - start);
    return p;
}

static bool etag_equal(const char *opaque, size_t len, const char *etag) {
    return etag && strlen(etag) == len && memcmp(opaque, etag, len) == 0;
}

/* Whether list ("*" or 1#entity-tag) names etag: 1 yes, 0 no, -1 invalid.
 * strong: the strong comparison (a weak tag never matches). */
static int etag_list_match(const char *list, const char *etag, bool strong) {
    const char *p = skip_blanks(list);
    if (*p == '*' && *skip_blanks(p + 1) == '\0') return 1;
    bool match = false, any = false;
    for (;;) {
        p = skip_blanks(p);
        if (*p != ',' && *p != '\0') {
            bool weak;
            const char *opaque;
            size_t len;
            p = parse_etag(p, &weak, &opaque, &len);
            if (!p) return -1;
            any = true;
            match = match || ((!strong || !weak) && etag_equal(opaque, len, etag));
            p = skip_blanks(p);
        }
        if (*p == '\0') break;
        if (*p != ',') return -1;
        p++;
    }
    return any ? match : -1;
}

/* ---- preconditions (§13.2.2) ----------------------------------------------- */

/* If-Match: false → 412. An unparsable value is false (fail safe). */
static bool if_match_holds(const char *value, const mc_validators *v) {
    return etag_list_match(value, v->etag, true) == 1;
}

/* If-Unmodified-Since: an invalid date is ignored; an unknown
 * Last-Modified cannot be shown to be old enough, so it fails. */
static bool if_unmodified_since_holds(const char *value, const mc_validators *v) {
    time_t date;
    if (mc_http_date_parse(value, &date)) return true;
    return v->last_modified != 0 && v->last_modified <= date;
}

/* If-None-Match: false (a listed tag matches, weakly) → 304. An
 * unparsable value names nothing, so it holds. */
static bool if_none_match_holds(const char *value, const mc_validators *v) {
    return etag_list_match(value, v->etag, false) != 1;
}

/* If-Modified-Since: false (not modified since) → 304; an invalid date or
 * an unknown Last-Modified is ignored. */
static bool if_modified_since_holds(const char *value, const mc_validators *v) {
    time_t date;
    if (v->last_modified == 0 || mc_http_date_parse(value, &date)) return true;
    return v->last_modified > date;
}

mc_precondition mc_precondition_evaluate(const mc_conditional_headers *h, const mc_validators *v) {
    if (h->if_match) {
        if (!if_match_holds(h->if_match, v)) return MC_PRECONDITION_FAILED;
    } else if (h->if_unmodified_since) {
        if (!if_unmodified_since_holds(h->if_unmodified_since, v)) return MC_PRECONDITION_FAILED;
    }
    if (h->if_none_match) {
        if (!if_none_match_holds(h->if_none_match, v)) return MC_PRECONDITION_NOT_MODIFIED;
    } else if (h->if_modified_since) {
        if (!if_modified_since_holds(h->if_modified_since, v)) return MC_PRECONDITION_NOT_MODIFIED;
    }
    return MC_PRECONDITION_PROCEED;
}

bool mc_if_range_allows(const char *if_range, const mc_validators *v) {
    if (!if_range) return true;
    const char *p = skip_blanks(if_range);
    if (*p == '"' || (p[0] == 'W' && p[1] == '/')) {
        bool weak;
        const char *opaque;
        size_t len;
        p = parse_etag(p, &weak, &opaque, &len);
        return p && *skip_blanks(p) == '\0' && !weak && etag_equal(opaque, len, v->etag);
    }
    time_t date;
    return v->last_modified != 0 && mc_http_date_parse(if_range, &date) == 0 &&
           date == v->last_modified;
}
