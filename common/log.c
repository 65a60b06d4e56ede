/* log.c — JSON-lines logging (see log.h). Uses jansson for escaping so any
 * message, including one quoting hostile input, stays one valid JSON line. */
#include "common/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static char log_service[64] = "mcloud";
static _Atomic mc_log_level log_min = MC_LOG_INFO; /* set by the config watcher, read by every thread */
static int log_fd = 2;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void mc_log_init(const char *service, mc_log_level min_level) {
    snprintf(log_service, sizeof log_service, "%s", service ? service : "mcloud");
    log_min = min_level;
}

void mc_log_set_level(mc_log_level min_level) { log_min = min_level; }
void mc_log_set_fd(int fd) { log_fd = fd; }

bool mc_log_enabled(mc_log_level level) { return level >= log_min; }

int mc_log_level_parse(const char *name, mc_log_level *out) {
    for (int i = 0; i < 4; i++) {
        if (name && strcasecmp(name, level_names[i]) == 0) {
            *out = (mc_log_level)i;
            return 0;
        }
    }
    return -1;
}

static void format_timestamp(char *buf, size_t len) {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static json_t *new_line(mc_log_level level, const char *msg) {
    char ts[40];
    format_timestamp(ts, sizeof ts);
    json_t *line = json_object();
    json_object_set_new(line, "ts", json_string(ts));
    json_object_set_new(line, "level", json_string(level_names[level]));
    json_object_set_new(line, "service", json_string(log_service));
    json_t *m = json_string(msg);
    if (!m) m = json_string("(message was not valid UTF-8)");
    json_object_set_new(line, "msg", m);
    return line;
}

static void emit(json_t *line) {
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(line);
    if (!text) return;
    size_t n = strlen(text);
    text[n] = '\n'; /* replaces the NUL: the line and its newline go out in one write */
    ssize_t off = 0;
    while ((size_t)off < n + 1) {
        ssize_t w = write(log_fd, text + off, n + 1 - (size_t)off);
        if (w <= 0) break;
        off += w;
    }
    free(text);
}

void mc_log(mc_log_level level, const char *fmt, ...) {
    if (!mc_log_enabled(level)) return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    emit(new_line(level, msg));
}

void mc_log_kv(mc_log_level level, const char *msg, ...) {
    if (!mc_log_enabled(level)) return;
    json_t *line = new_line(level, msg);
    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (!key) break;
        const char *value = va_arg(ap, const char *);
        json_t *v = value ? json_string(value) : json_null();
        if (!v) v = json_string("(not valid UTF-8)");
        json_object_set_new(line, key, v);
    }
    va_end(ap);
    emit(line);
}
