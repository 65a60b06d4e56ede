/* error.h — the error value every fallible call in mcloud fills in.
 *
 * Functions return 0 on success and -1 on failure, and write what went wrong
 * into a caller-owned mc_err. Only the edge (a request handler, main()) logs
 * it, so each failure is logged exactly once. */
#ifndef MCLOUD_ERROR_H
#define MCLOUD_ERROR_H

#include <stdarg.h>
#include <stddef.h>

/* Broad classes a caller can act on (e.g. map to an HTTP status). */
typedef enum mc_err_kind {
    MC_ERR_NONE = 0,
    MC_ERR_INTERNAL,     /* a bug or an unexpected library failure */
    MC_ERR_INVALID,      /* bad input from the caller */
    MC_ERR_NOT_FOUND,    /* the thing asked for does not exist */
    MC_ERR_CONFLICT,     /* state does not allow it (offset mismatch, lock held) */
    MC_ERR_UNAVAILABLE,  /* a backing server could not be reached; retry later */
    MC_ERR_REMOTE,       /* a backing server answered with an error */
    MC_ERR_AUTH          /* credentials missing or wrong */
} mc_err_kind;

typedef struct mc_err {
    mc_err_kind kind;
    int status;          /* protocol status when there is one (HTTP, MySQL errno), else 0 */
    char code[64];       /* remote error code when there is one (e.g. S3 "NoSuchKey") */
    char msg[512];
} mc_err;

/* Fills e (if not NULL) and returns -1, so callers can `return mc_err_set(...)`. */
int mc_err_set(mc_err *e, mc_err_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same with every field: a protocol status (0: none) and a remote or
 * machine-readable code (NULL: none), from a va_list for wrappers. */
int mc_err_setv(mc_err *e, mc_err_kind kind, int status, const char *code, const char *fmt,
                va_list ap) __attribute__((format(printf, 5, 0)));
/* Prefixes the existing message with context ("s3 put uploads/x: ..."). Returns -1. */
int mc_err_wrap(mc_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mc_err_clear(mc_err *e);
const char *mc_err_kind_name(mc_err_kind kind);

#endif
