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

#include "common/config.h"
#include "common/s3.h"

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

/* The stack's S3 settings (MCLOUD_S3_* over the defaults) in *cfg. */
static inline void itest_s3_config(mc_s3_config *cfg) {
    itest_env("MCLOUD_S3_ENDPOINT");
    itest_env("MCLOUD_S3_BUCKET");
    itest_env("MCLOUD_S3_ACCESS_KEY");
    itest_env("MCLOUD_S3_SECRET_KEY");
    mc_err err = {0};
    mc_config *settings = mc_config_load(NULL, NULL);
    int rc = settings ? mc_s3_config_from(settings, cfg, &err) : -1;
    mc_config_free(settings);
    if (rc < 0) fail_msg("S3 settings: %s", err.msg);
}

#endif
