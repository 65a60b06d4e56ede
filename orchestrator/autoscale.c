/* autoscale.c — the scaling decision (see autoscale.h). Pure: no clock, no
 * I/O; the time and the lag come in, the count and its reason go out. */
#include "orchestrator/autoscale.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int clamp(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* n within the policy and the partitions (cap: the highest allowed). */
static int bounded(const mc_spec_scaling *p, const mc_scale_input *in, int64_t n, int *cap) {
    *cap = p->max;
    if (in->partitions > 0 && in->partitions < *cap) *cap = in->partitions;
    int lo = p->min < *cap ? p->min : *cap;
    return n > *cap ? *cap : clamp((int)n, lo, *cap);
}

/* The lag as counted here: never negative, small enough for the sums below. */
static int64_t lag_of(const mc_scale_input *in) {
    return in->lag < 0 ? 0 : in->lag > INT64_MAX / 200 ? INT64_MAX / 200 : in->lag; /* x 100 + room fits */
}

/* The smallest count whose instances carry the lag at pct % of
 * lag_per_instance each: ceil(lag x 100 / (lag_per_instance x pct)). At 100
 * it is the count the lag asks for; a step down uses
 * 100 - MC_SCALE_DOWN_HEADROOM_PCT, so a lag sitting right on n x
 * lag_per_instance does not step down to n, where the next message would
 * scale straight back up (the flip-flop orchestrator.autoscale_trickle
 * caught: 2 -> 1 at lag 5, 1 -> 2 at lag 6 three seconds later). The HPA
 * keeps the same 10 % band. */
static int count_at(const mc_spec_scaling *p, const mc_scale_input *in, int pct, int *cap) {
    int64_t room = p->lag_per_instance * pct; /* <= 1e9 x 100 (spec.c) */
    return bounded(p, in, (lag_of(in) * 100 + room - 1) / room, cap);
}

static void reset_windows(mc_scale_state *st) {
    st->high_since_ms = st->low_since_ms = 0;
    st->high_min = st->low_max = 0;
}

static void changed(mc_scale_state *st, const mc_scale_input *in, mc_scale_decision *d, int to) {
    d->desired = to;
    d->change = to != in->current;
    if (d->change) {
        st->last_change_ms = in->now_ms;
        reset_windows(st);
    }
}

void mc_scale_decide(const mc_spec_scaling *p, mc_scale_state *st, const mc_scale_input *in,
                     mc_scale_decision *d) {
    memset(d, 0, sizeof *d);
    d->desired = in->current;
    d->wanted = -1;
    if (!in->lag_known) {
        reset_windows(st);
        int to = clamp(in->current, p->min, p->max);
        snprintf(d->reason, sizeof d->reason, "lag unknown (Kafka unreadable or no topic yet): holding %d", to);
        changed(st, in, d, to);
        return;
    }
    int cap;
    int want = count_at(p, in, 100, &cap);
    d->wanted = want;
    int64_t now = in->now_ms;
    if (in->current > p->max || in->current < p->min) {
        int to = clamp(in->current, p->min, p->max);
        snprintf(d->reason, sizeof d->reason, "count %d outside the policy's %d-%d", in->current, p->min, p->max);
        changed(st, in, d, to);
        return;
    }
    if (want > in->current) {
        st->low_since_ms = 0, st->low_max = 0;
        if (!st->high_since_ms || want < st->high_min) st->high_min = want;
        if (!st->high_since_ms) st->high_since_ms = now;
        if (now - st->high_since_ms >= p->up_window_ms) {
            int to = st->high_min;
            snprintf(d->reason, sizeof d->reason, "lag %" PRId64 " > %d x %" PRId64 ": up to %d%s", in->lag,
                     in->current, p->lag_per_instance, to, to == cap && cap < p->max ? " (the partition count)" : "");
            changed(st, in, d, to);
        } else {
            snprintf(d->reason, sizeof d->reason, "lag %" PRId64 " asks for %d: waiting for the up window", in->lag,
                     want);
        }
        return;
    }
    int down_cap, down = count_at(p, in, 100 - MC_SCALE_DOWN_HEADROOM_PCT, &down_cap);
    if (down < in->current) {
        st->high_since_ms = 0, st->high_min = 0;
        if (!st->low_since_ms || down > st->low_max) st->low_max = down;
        if (!st->low_since_ms) st->low_since_ms = now;
        bool window = now - st->low_since_ms >= p->down_window_ms;
        bool spaced = !st->last_change_ms || now - st->last_change_ms >= p->down_window_ms;
        if (window && spaced) {
            int to = st->low_max;
            snprintf(d->reason, sizeof d->reason,
                     "lag %" PRId64 " asked for at most %d over the down window: down to %d", in->lag, to, to);
            changed(st, in, d, to);
        } else {
            snprintf(d->reason, sizeof d->reason, "lag %" PRId64 " asks for %d: waiting for the down window",
                     in->lag, down);
        }
        return;
    }
    reset_windows(st);
    if (want < in->current)
        snprintf(d->reason, sizeof d->reason,
                 "lag %" PRId64 " fits %d instances only without %d%% headroom: holding %d", in->lag, want,
                 MC_SCALE_DOWN_HEADROOM_PCT, in->current);
    else
        snprintf(d->reason, sizeof d->reason, "lag %" PRId64 " fits %d instances", in->lag, in->current);
}
