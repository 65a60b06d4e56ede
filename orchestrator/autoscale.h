/* autoscale.h — the scaling decision of an autoscaled service, as a pure
 * function of its policy (spec.h's scaling:), the consumer group's lag, the
 * current count and the state kept between evaluations. The daemon
 * (scaler.c) reads the lag, keeps the state in Redis and applies the
 * count; tests/unit/test_orch_autoscale.c drives this alone.
 *
 * The rules (what KEDA + the HPA and the Nomad Autoscaler users ask for):
 *   - the wanted count is ceil(lag / lag_per_instance), within min..max and
 *     at most the topic's partition count (more consumers sit idle);
 *   - up: as soon as the wanted count has been above the current one for
 *     up_window (0: at the first evaluation), to the lowest wanted count
 *     seen over that window;
 *   - down: only once the count that carries the lag with
 *     MC_SCALE_DOWN_HEADROOM_PCT to spare (lag <= n x lag_per_instance x
 *     0.9) has stayed below the current one for down_window, to the highest
 *     such count seen over that window, and
 *     never sooner than down_window after the previous change: one step
 *     down per window, no flip-flop;
 *   - lag unreadable (Kafka down): hold the current count and forget the
 *     windows under way (no scale-down on missing data);
 *   - a count outside min..max (the policy changed) is brought inside. */
#ifndef MCLOUD_ORCH_AUTOSCALE_H
#define MCLOUD_ORCH_AUTOSCALE_H

#include <stdbool.h>
#include <stdint.h>

#include "orchestrator/spec.h"

/* The headroom a step down keeps (the HPA's default tolerance is the same
 * 10 %): without it a lag sitting on the threshold steps down and the next
 * message scales straight back up. */
#define MC_SCALE_DOWN_HEADROOM_PCT 10

typedef struct mc_scale_state {      /* kept between evaluations (Redis) */
    int64_t high_since_ms, low_since_ms; /* 0: not above / not below now */
    int high_min, low_max;           /* the lowest wanted above / highest wanted below, over the window */
    int64_t last_change_ms;          /* 0: never */
} mc_scale_state;

typedef struct mc_scale_input {
    bool lag_known;                  /* false: Kafka could not be read */
    int64_t lag;                     /* messages waiting in the group, all partitions */
    int partitions;                  /* the topic's partition count (<= 0: unknown) */
    int current;                     /* the service's count now */
    int64_t now_ms;
} mc_scale_input;

typedef struct mc_scale_decision {
    int desired;
    int wanted;                      /* the raw recommendation (lag alone), -1 when the lag is unknown */
    bool change;                     /* desired != current */
    char reason[200];
} mc_scale_decision;

/* One evaluation: fills *d and updates *st. */
void mc_scale_decide(const mc_spec_scaling *policy, mc_scale_state *st, const mc_scale_input *in,
                     mc_scale_decision *d);

#endif
