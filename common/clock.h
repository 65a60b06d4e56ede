/* clock.h — the monotonic clock every daemon measures with: deadlines,
 * durations, backoff. One set of helpers in common/ instead of a now_ms()
 * in every file that needs one. */
#ifndef MCLOUD_CLOCK_H
#define MCLOUD_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in seconds, milliseconds and nanoseconds. */
double mc_monotonic_seconds(void);
int64_t mc_monotonic_ms(void);
uint64_t mc_monotonic_ns(void);

#endif
