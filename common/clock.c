/* clock.c — the monotonic and wall clocks (see clock.h). */
#include "common/clock.h"

#include <time.h>

static struct timespec now(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts;
}

static struct timespec monotonic(void) { return now(CLOCK_MONOTONIC); }

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

double mc_realtime_seconds(void) {
    struct timespec ts = now(CLOCK_REALTIME);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t mc_realtime_ms(void) {
    struct timespec ts = now(CLOCK_REALTIME);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mc_realtime_ns(void) {
    struct timespec ts = now(CLOCK_REALTIME);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
