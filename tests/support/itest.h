/* itest.h — shared helpers for integration tests (header-only, tests only).
 *
 * Integration tests talk to the real servers that scripts/stack.sh starts and
 * find them through the MCLOUD_* variables that `scripts/stack.sh env`
 * prints. A missing variable is a failure with a clear message, never a skip:
 * the suite is meant to run against the real stack. */
#ifndef MCLOUD_ITEST_H
#define MCLOUD_ITEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

static inline const char *itest_env(const char *name) {
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "integration test needs %s: run `eval \"$(scripts/stack.sh env)\"` "
                        "after `scripts/stack.sh up`\n", name);
        fail_msg("missing environment variable %s", name);
    }
    return v;
}

/* A name unique to this process and moment, for keys, topics and rows. */
static inline void itest_unique(char *buf, size_t len, const char *prefix) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, len, "%s-%ld-%ld-%d", prefix, (long)ts.tv_sec, ts.tv_nsec, (int)getpid());
}

#endif
