/* backoff.h — capped exponential backoff with jitter for reconnect loops.
 *
 * A reconnecting client waits initial, 2*initial, 4*initial, ... up to max
 * between attempts. Each delay is jittered into [d/2, d] so that many
 * clients losing the same server do not all come back in the same instant. */
#ifndef MCLOUD_BACKOFF_H
#define MCLOUD_BACKOFF_H

#include <stdint.h>

typedef struct mc_backoff {
    unsigned initial_ms;
    unsigned max_ms;
    unsigned attempt;    /* failures since the last success */
} mc_backoff;

/* The delay before retry number `attempt` (0 = first retry): the capped
 * exponential d = min(max, initial * 2^attempt), jittered into [d/2, d]
 * by `rnd` (any 32-bit value). Pure, so it can be tested exhaustively. */
unsigned mc_backoff_delay_ms(unsigned initial_ms, unsigned max_ms, unsigned attempt, uint32_t rnd);

void mc_backoff_init(mc_backoff *b, unsigned initial_ms, unsigned max_ms);
/* Records one more failure and returns how long to wait before the next try. */
unsigned mc_backoff_next_ms(mc_backoff *b);
/* Call after a success: the next failure waits `initial` again. */
void mc_backoff_reset(mc_backoff *b);

#endif
