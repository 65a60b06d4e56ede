/* error.c — filling and wrapping mc_err values (see error.h). */
#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int mc_err_setv(mc_err *e, mc_err_kind kind, int status, const char *code, const char *fmt,
                va_list ap) {
    if (!e) return -1;
    /* Formatted aside first: an argument may be e's own message or code. */
    char msg[sizeof e->msg], code_copy[sizeof e->code];
    vsnprintf(msg, sizeof msg, fmt, ap);
    snprintf(code_copy, sizeof code_copy, "%s", code ? code : "");
    e->kind = kind;
    e->status = status;
    memcpy(e->code, code_copy, sizeof e->code);
    memcpy(e->msg, msg, sizeof e->msg);
    return -1;
}

int mc_err_set(mc_err *e, mc_err_kind kind, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mc_err_setv(e, kind, 0, NULL, fmt, ap);
    va_end(ap);
    return -1;
}

int mc_err_wrap(mc_err *e, const char *fmt, ...) {
    if (!e) return -1;
    char prefix[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[sizeof e->msg];
    memcpy(old, e->msg, sizeof old);
    if (snprintf(e->msg, sizeof e->msg, "%s: %s", prefix, old) >= (int)sizeof e->msg)
        memcpy(e->msg + sizeof e->msg - 4, "...", 4); /* mark the cut */
    if (e->kind == MC_ERR_NONE) e->kind = MC_ERR_INTERNAL;
    return -1;
}

void mc_err_clear(mc_err *e) {
    if (!e) return;
    memset(e, 0, sizeof *e);
}

const char *mc_err_kind_name(mc_err_kind kind) {
    switch (kind) {
    case MC_ERR_NONE: return "none";
    case MC_ERR_INTERNAL: return "internal";
    case MC_ERR_INVALID: return "invalid";
    case MC_ERR_NOT_FOUND: return "not_found";
    case MC_ERR_CONFLICT: return "conflict";
    case MC_ERR_UNAVAILABLE: return "unavailable";
    case MC_ERR_REMOTE: return "remote";
    case MC_ERR_AUTH: return "auth";
    }
    return "unknown";
}
