/* periodic.h — a background thread that runs one step function every
 * interval, at once when nudged, and stops cleanly: the shape of every
 * daemon's housekeeping (outbox publishing, sweeping, heartbeats). */
#ifndef MC_PERIODIC_H
#define MC_PERIODIC_H

#include <stdbool.h>
#include <time.h>

#include "common/error.h"

/* The absolute time ms milliseconds from now on clock, as
 * pthread_cond_timedwait wants it (the clock the condition variable uses). */
struct timespec mc_deadline_after_ms(clockid_t clock, long ms);

/* One round of work. Returns > 0 when more work is waiting (the step runs
 * again at once), 0 when done for now, < 0 after logging its own failure
 * (the next round comes after the interval). */
typedef int (*mc_periodic_step)(void *ctx);

typedef struct mc_periodic mc_periodic;

/* Starts the thread; the first round runs at once. name shows in logs and
 * as the thread name (at most 15 characters are kept). */
mc_periodic *mc_periodic_start(const char *name, long interval_ms, mc_periodic_step step,
                               void *ctx, mc_err *err);
/* Runs a round as soon as the current one ends. NULL-safe. */
void mc_periodic_nudge(mc_periodic *p);
/* Waits for the round in progress, then joins and frees. NULL-safe. */
void mc_periodic_stop(mc_periodic *p);
/* For steps that loop: true once stop has been asked. */
bool mc_periodic_stopping(mc_periodic *p);

#endif
