/* fflog.c — libav* log callback (see fflog.h). libav* messages are
 * diagnostics of the library, not failures of mcloud: they go to the log at
 * debug level; failures reach the caller as mc_err. */
#include "transcode/fflog.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <libavutil/log.h>

#include "common/log.h"

static _Thread_local char last_error[256];
static _Thread_local int print_prefix = 1;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

static void trim_newline(char *s) {
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = '\0';
}

static void fflog_callback(void *avcl, int level, const char *fmt, va_list vl) {
    if (level > av_log_get_level()) return;
    if (level > AV_LOG_ERROR && !mc_log_enabled(MC_LOG_DEBUG)) return; /* formatted for the DEBUG line only */
    char line[1024];
    av_log_format_line2(avcl, level, fmt, vl, line, sizeof line, &print_prefix);
    trim_newline(line);
    if (!line[0]) return;
    if (level <= AV_LOG_ERROR) {
        /* the message text without the "[component @ 0x...] " prefix */
        const char *text = line;
        if (line[0] == '[') {
            const char *end = strstr(line, "] ");
            if (end) text = end + 2;
        }
        snprintf(last_error, sizeof last_error, "%.255s", text);
    }
    mc_log(MC_LOG_DEBUG, "libav: %s", line);
}

static void install(void) {
    av_log_set_level(AV_LOG_WARNING);
    av_log_set_callback(fflog_callback);
}

void mc_fflog_install(void) { pthread_once(&install_once, install); }
const char *mc_fflog_last_error(void) { return last_error; }
void mc_fflog_clear(void) { last_error[0] = '\0'; }
