/* clock.h — the monotonic clock every daemon measures with: deadlines,
 * durations, backoff; and the wall clock for times that are stored or sent.
 * One set of helpers in common/ instead of a now_ms() in every file that
 * needs one. */
#ifndef MCLOUD_CLOCK_H
#define MCLOUD_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in seconds, milliseconds and nanoseconds. */
double mc_monotonic_seconds(void);
int64_t mc_monotonic_ms(void);
uint64_t mc_monotonic_ns(void);

/* CLOCK_REALTIME (wall-clock time since the epoch), for times that leave
 * the process: stored, sent, compared across machines or restarts. */
double mc_realtime_seconds(void);
int64_t mc_realtime_ms(void);
int64_t mc_realtime_ns(void);

#endif
