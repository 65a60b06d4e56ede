/* log.h — JSON-lines logging shared by every daemon.
 *
 * One JSON object per line on stderr: {"ts","level","service","msg", ...}.
 * Lines are written with a single write so threads never interleave. */
#ifndef MCLOUD_LOG_H
#define MCLOUD_LOG_H

#include <stdbool.h>

typedef enum mc_log_level {
    MC_LOG_DEBUG = 0,
    MC_LOG_INFO,
    MC_LOG_WARN,
    MC_LOG_ERROR
} mc_log_level;

/* Names the service in every line and sets the lowest level written. */
void mc_log_init(const char *service, mc_log_level min_level);
void mc_log_set_level(mc_log_level min_level);
int mc_log_level_parse(const char *name, mc_log_level *out);
/* Redirects lines to fd (default 2); tests use it to capture output. */
void mc_log_set_fd(int fd);

/* True when lines of this level are written: a caller that formats
 * values only for a log line (a DEBUG line's figures) asks first. */
bool mc_log_enabled(mc_log_level level);

void mc_log(mc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A message plus string fields: mc_log_kv(MC_LOG_INFO, "upload done", "id", id, NULL). */
void mc_log_kv(mc_log_level level, const char *msg, ...) __attribute__((sentinel));

/* The level is checked before the arguments are evaluated. */
#define mc_debug(...)                                                       \
    do {                                                                    \
        if (mc_log_enabled(MC_LOG_DEBUG)) mc_log(MC_LOG_DEBUG, __VA_ARGS__); \
    } while (0)
#define mc_info(...) mc_log(MC_LOG_INFO, __VA_ARGS__)
#define mc_warn(...) mc_log(MC_LOG_WARN, __VA_ARGS__)
#define mc_error(...) mc_log(MC_LOG_ERROR, __VA_ARGS__)

#endif
