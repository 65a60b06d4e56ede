/* http_date.c — HTTP-dates (RFC 9110 §5.6.7) for every service: strict
 * parsing of the three forms a client may send, and IMF-fixdate out. Pure
 * functions; the stream's conditional requests and the upload's
 * Upload-Expires use them (fuzzed through fuzz_range). */
#include "common/http_date.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* ---- HTTP-date (§5.6.7) ---------------------------------------------------- */

static const char *const day_names[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const long_day_names[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                             "Thursday", "Friday", "Saturday"};
static const char *const month_names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

typedef struct civil_time {
    int year, month, day, hour, minute, second; /* month 1..12 */
} civil_time;

/* Reads exactly n digits. */
static const char *digits(const char *p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++, p++) {
        if (!is_digit(*p)) return NULL;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return p;
}

static const char *literal(const char *p, const char *lit) {
    if (!p) return NULL;
    size_t n = strlen(lit);
    return strncmp(p, lit, n) == 0 ? p + n : NULL;
}

static const char *name_in(const char *p, const char *const *names, int count, int *index) {
    for (int i = 0; p && i < count; i++) {
        const char *q = literal(p, names[i]);
        if (q) {
            *index = i;
            return q;
        }
    }
    return NULL;
}

static const char *month(const char *p, int *out) {
    p = name_in(p, month_names, 12, out);
    (*out)++;
    return p;
}

/* "HH:MM:SS" */
static const char *time_of_day(const char *p, civil_time *t) {
    if (p) p = digits(p, 2, &t->hour);
    p = literal(p, ":");
    if (p) p = digits(p, 2, &t->minute);
    p = literal(p, ":");
    if (p) p = digits(p, 2, &t->second);
    return p;
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" */
static const char *imf_fixdate(const char *p, civil_time *t) {
    int wd;
    p = literal(name_in(p, day_names, 7, &wd), ", ");
    if (p) p = digits(p, 2, &t->day);
    p = month(literal(p, " "), &t->month);
    p = literal(p, " ");
    if (p) p = digits(p, 4, &t->year);
    p = time_of_day(literal(p, " "), t);
    return literal(p, " GMT");
}

/* "Sunday, 06-Nov-94 08:49:37 GMT"; a two-digit year more than 50 years
 * ahead of now is in the past century (§5.6.7). */
static const char *rfc850_date(const char *p, civil_time *t) {
    int wd, yy = 0;
    p = literal(name_in(p, long_day_names, 7, &wd), ", ");
    if (p) p = digits(p, 2, &t->day);
    p = month(literal(p, "-"), &t->month);
    p = literal(p, "-");
    if (p) p = digits(p, 2, &yy);
    p = literal(time_of_day(literal(p, " "), t), " GMT");
    if (p) {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        int this_year = tm.tm_year + 1900;
        t->year = this_year / 100 * 100 + yy;
        if (t->year > this_year + 50) t->year -= 100;
    }
    return p;
}

/* "Sun Nov  6 08:49:37 1994" */
static const char *asctime_date(const char *p, civil_time *t) {
    int wd;
    p = month(literal(name_in(p, day_names, 7, &wd), " "), &t->month);
    p = literal(p, " ");
    if (p && *p == ' ')
        p = digits(p + 1, 1, &t->day);
    else if (p)
        p = digits(p, 2, &t->day);
    p = time_of_day(literal(p, " "), t);
    p = literal(p, " ");
    if (p) p = digits(p, 4, &t->year);
    return p;
}

static bool leap_year(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static bool civil_valid(const civil_time *t) {
    static const int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (t->month < 1 || t->month > 12 || t->day < 1) return false;
    int days = month_days[t->month - 1] + (t->month == 2 && leap_year(t->year));
    return t->day <= days && t->hour <= 23 && t->minute <= 59 && t->second <= 60;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int mc_http_date_parse(const char *s, time_t *out) {
    if (!s) return -1;
    civil_time t = {0};
    const char *end = imf_fixdate(s, &t);
    if (!end) {
        t = (civil_time){0};
        end = rfc850_date(s, &t);
    }
    if (!end) {
        t = (civil_time){0};
        end = asctime_date(s, &t);
    }
    if (!end || *end != '\0' || !civil_valid(&t)) return -1;
    int64_t days = days_from_civil(t.year, t.month, t.day);
    *out = (time_t)(days * 86400 + t.hour * 3600 + t.minute * 60 + t.second);
    return 0;
}

void mc_http_date_format(time_t t, char out[MC_HTTP_DATE_LEN]) {
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
        t = 0;
        gmtime_r(&t, &tm);
    }
    char buf[64];
    snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", day_names[tm.tm_wday],
             tm.tm_mday, month_names[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
             tm.tm_sec);
    memcpy(out, buf, MC_HTTP_DATE_LEN - 1);
    out[MC_HTTP_DATE_LEN - 1] = '\0';
}
