/* backoff.c — capped exponential backoff with "equal jitter" (see backoff.h). */
#include "common/backoff.h"

#include <stdlib.h>

unsigned mc_backoff_delay_ms(unsigned initial_ms, unsigned max_ms, unsigned attempt, uint32_t rnd) {
    if (initial_ms == 0) initial_ms = 1;
    if (max_ms < initial_ms) max_ms = initial_ms;
    unsigned d = initial_ms;
    for (unsigned i = 0; i < attempt && d < max_ms; i++)
        d = d > max_ms / 2 ? max_ms : d * 2;
    if (d > max_ms) d = max_ms;
    unsigned half = d / 2;
    return half + rnd % (d - half + 1);
}

void mc_backoff_init(mc_backoff *b, unsigned initial_ms, unsigned max_ms) {
    b->initial_ms = initial_ms;
    b->max_ms = max_ms;
    b->attempt = 0;
}

unsigned mc_backoff_next_ms(mc_backoff *b) {
    unsigned d = mc_backoff_delay_ms(b->initial_ms, b->max_ms, b->attempt, arc4random());
    if (b->attempt < 64) b->attempt++;
    return d;
}

void mc_backoff_reset(mc_backoff *b) { b->attempt = 0; }
