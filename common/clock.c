/* clock.c — the monotonic clock (see clock.h). */
#include "common/clock.h"

#include <time.h>

static struct timespec monotonic(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts;
}

double mc_monotonic_seconds(void) {
    struct timespec ts = monotonic();
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t mc_monotonic_ms(void) {
    struct timespec ts = monotonic();
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t mc_monotonic_ns(void) {
    struct timespec ts = monotonic();
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
