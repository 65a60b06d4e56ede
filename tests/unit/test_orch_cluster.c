/* The orchestrator's rounds (orchestrator/decide.h + plan.h) against a
 * simulated cluster: a minimal agent stub per node applies the orders to
 * its instance list, and an instance turns healthy two rounds after it
 * starts (or never, for a broken version). Each round is what the daemon
 * does between its I/O: decide, reconcile, send. Checked: spread, adoption
 * by a fresh orchestrator (no order at all), a dead node's instances
 * rescheduled, a drain that never leaves an instance without a healthy
 * copy, a rolling update within max_parallel, a broken version reverted
 * after healthy_deadline, canaries waiting for a promote. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "orchestrator/decide.h"

#define MAXR 64

typedef struct sim {
    mc_spec spec;
    mc_decide_state *st;
    mc_node nodes[3];
    int nnodes;
    mc_report reports[MAXR];
    int born[MAXR];              /* round the instance started */
    int nreports;
    int round;
    int64_t broken_version;      /* instances of it never turn healthy */
    bool promoted;
    int orders;                  /* sent in the last round */
    int reverts;
    mc_decide_revert last_revert;
    bool slow_agent_at_revert;   /* the round that reverts delivers no order */
    int healthy_after;           /* rounds a new instance takes to turn healthy (0: 2) */
} sim;

static bool is_promoted(void *ctx, const char *service, int64_t to) {
    (void)service, (void)to;
    return ((sim *)ctx)->promoted;
}

static void remove_report(sim *s, int i) {
    s->reports[i] = s->reports[s->nreports - 1];
    s->born[i] = s->born[s->nreports - 1];
    s->nreports--;
}

/* The agent stub: start/replace make a fresh, not yet healthy instance. */
static void apply(sim *s, const mc_order *o, const mc_want *wants) {
    for (int i = 0; i < s->nreports; i++)
        if (strcmp(s->reports[i].name, o->name) == 0 && strcmp(s->reports[i].node, o->node) == 0) remove_report(s, i--);
    if (o->kind == MC_ORDER_STOP) return;
    assert_true(s->nreports < MAXR);
    mc_report *r = &s->reports[s->nreports];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", o->name);
    snprintf(r->service, sizeof r->service, "%s", wants[o->want].service);
    r->index = wants[o->want].index;
    snprintf(r->node, sizeof r->node, "%s", o->node);
    r->spec_version = wants[o->want].version;
    r->port = wants[o->want].port;
    snprintf(r->state, sizeof r->state, "starting");
    s->born[s->nreports++] = s->round;
}

/* One round at time 10 s * round: health, decide, reconcile, apply. */
static void tick(sim *s) {
    s->round++;
    double now = 10.0 * s->round;
    for (int i = 0; i < s->nreports; i++) {
        int after = s->healthy_after ? s->healthy_after : 2;
        bool ok = s->round - s->born[i] >= after && s->reports[i].spec_version != s->broken_version;
        s->reports[i].healthy = s->reports[i].ready = ok;
        snprintf(s->reports[i].state, sizeof s->reports[i].state, ok ? "running" : "starting");
    }
    /* a dead node reports nothing */
    mc_report live[MAXR];
    int nlive = 0;
    for (int i = 0; i < s->nreports; i++)
        for (int k = 0; k < s->nnodes; k++)
            if (s->nodes[k].alive && strcmp(s->nodes[k].name, s->reports[i].node) == 0) live[nlive++] = s->reports[i];
    static mc_want wants[MC_DECIDE_MAX_WANTS];
    mc_decide_revert reverts[MC_SPEC_MAX_SERVICES];
    int nrev = 0;
    int n = mc_decide(&s->spec, s->st, s->nodes, s->nnodes, live, nlive, is_promoted, s, now, wants,
                      MC_DECIDE_MAX_WANTS, reverts, &nrev);
    if (nrev) {
        s->reverts += nrev;
        s->last_revert = reverts[0];
    }
    mc_order orders[128];
    s->orders = mc_reconcile(wants, n, s->nodes, s->nnodes, live, nlive, orders, 128);
    if (nrev && s->slow_agent_at_revert) s->orders = 0;
    for (int i = 0; i < s->orders; i++) {
        apply(s, &orders[i], wants);
        if (orders[i].want >= 0) mc_decide_ordered(s->st, &s->spec, &wants[orders[i].want], now);
    }
}

static void set_spec(sim *s, const char *yaml, int64_t version, const mc_spec *old) {
    mc_spec_errors errs;
    mc_spec next;
    assert_int_equal(mc_spec_parse(yaml, strlen(yaml), NULL, &next, &errs), 0);
    int64_t tmpl[MC_SPEC_MAX_SERVICES];
    for (int p = 0; p < next.service_count; p++) {
        const mc_spec_service *o = old ? mc_spec_find(old, next.services[p].name) : NULL;
        tmpl[p] = o && mc_spec_same_template(o, &next.services[p]) ? s->st->rollouts[p].to : version;
    }
    mc_decide_new_spec(s->st, old, &next, tmpl);
    s->spec = next;
}

static sim *new_sim(const char *yaml) {
    sim *s = calloc(1, sizeof *s);
    s->st = calloc(1, sizeof *s->st);
    const char *names[] = {"a", "b", "c"};
    for (int k = 0; k < 3; k++) {
        snprintf(s->nodes[k].name, sizeof s->nodes[k].name, "%s", names[k]);
        s->nodes[k].cpus = 8;
        s->nodes[k].memory_bytes = 8ll << 30;
        s->nodes[k].pids = 100000;
        s->nodes[k].alive = true;
    }
    s->nnodes = 2;
    set_spec(s, yaml, 1, NULL);
    return s;
}

static void free_sim(sim *s) {
    free(s->st);
    free(s);
}

static int count_on(const sim *s, const char *node, int64_t version, bool healthy_only) {
    int n = 0;
    for (int i = 0; i < s->nreports; i++)
        if (strcmp(s->reports[i].node, node) == 0 && (!version || s->reports[i].spec_version == version) &&
            (!healthy_only || s->reports[i].healthy))
            n++;
    return n;
}

static int healthy_copies(const sim *s, const char *name) {
    int n = 0;
    for (int i = 0; i < s->nreports; i++)
        for (int k = 0; k < s->nnodes; k++)
            n += strcmp(s->reports[i].name, name) == 0 && s->reports[i].healthy && s->nodes[k].alive &&
                 strcmp(s->nodes[k].name, s->reports[i].node) == 0;
    return n;
}

#define V1 "services:\n  t:\n    image: x/t:1\n    count: 4\n" \
           "    update: {max_parallel: 1, min_healthy_time: 10s, healthy_deadline: 60s}\n"
#define V2 "services:\n  t:\n    image: x/t:2\n    count: 4\n" \
           "    update: {max_parallel: 1, min_healthy_time: 10s, healthy_deadline: 60s}\n"

static void settle(sim *s, int rounds) {
    for (int i = 0; i < rounds; i++) tick(s);
}

static void test_spread_then_adoption_orders_nothing(void **state) {
    (void)state;
    sim *s = new_sim(V1);
    settle(s, 4);
    assert_int_equal(count_on(s, "a", 1, true), 2);
    assert_int_equal(count_on(s, "b", 1, true), 2);
    assert_int_equal(s->orders, 0);
    /* a restarted orchestrator: no memory at all, the same reports */
    memset(s->st, 0, sizeof *s->st);
    set_spec(s, V1, 1, NULL);
    tick(s);
    assert_int_equal(s->orders, 0);
    free_sim(s);
}

static void test_dead_node_is_rescheduled(void **state) {
    (void)state;
    sim *s = new_sim(V1);
    settle(s, 4);
    s->nodes[1].alive = false;
    for (int i = 0; i < s->nreports; i++)
        if (strcmp(s->reports[i].node, "b") == 0) remove_report(s, i--); /* its containers died with it */
    settle(s, 3);
    assert_int_equal(count_on(s, "a", 1, true), 4);
    assert_int_equal(s->orders, 0);
    free_sim(s);
}

static void test_drain_keeps_a_healthy_copy(void **state) {
    (void)state;
    sim *s = new_sim(V1);
    s->nnodes = 3;
    settle(s, 4);
    s->nodes[0].draining = true;
    char name[16];
    for (int r = 0; r < 6; r++) {
        tick(s);
        for (int i = 0; i < 4; i++) {
            mc_instance_name(name, sizeof name, "t", i);
            assert_true(healthy_copies(s, name) >= 1);
        }
        /* the nodes share a machine: two copies never share a port */
        for (int i = 0; i < s->nreports; i++)
            for (int j = i + 1; j < s->nreports; j++) assert_int_not_equal(s->reports[i].port, s->reports[j].port);
    }
    assert_int_equal(count_on(s, "a", 0, false), 0);
    assert_int_equal(count_on(s, "b", 1, true) + count_on(s, "c", 1, true), 4);
    free_sim(s);
}

static void test_rolling_update_within_max_parallel(void **state) {
    (void)state;
    sim *s = new_sim(V1);
    settle(s, 4);
    mc_spec old = s->spec;
    set_spec(s, V2, 2, &old);
    for (int r = 0; r < 30 && count_on(s, "a", 2, true) + count_on(s, "b", 2, true) < 4; r++) {
        tick(s);
        int unsettled = 0;
        for (int i = 0; i < s->nreports; i++) unsettled += !s->reports[i].healthy;
        assert_true(unsettled <= 1); /* max_parallel 1: one replaced at a time */
    }
    assert_int_equal(count_on(s, "a", 2, true) + count_on(s, "b", 2, true), 4);
    settle(s, 2);
    assert_int_equal(s->st->rollouts[0].status, MC_ROLLOUT_DONE);
    assert_int_equal(s->reverts, 0);
    free_sim(s);
}

static void test_broken_version_is_reverted(void **state) {
    (void)state;
    sim *s = new_sim(V1);
    settle(s, 4);
    mc_spec old = s->spec;
    s->broken_version = 2;
    set_spec(s, V2, 2, &old);
    for (int r = 0; r < 5; r++) { /* the first 50 s: one instance at a time tries version 2 */
        tick(s);
        assert_true(count_on(s, "a", 2, false) + count_on(s, "b", 2, false) <= 1);
    }
    assert_int_equal(count_on(s, "a", 2, false) + count_on(s, "b", 2, false), 1);
    settle(s, 5); /* past healthy_deadline (60 s) */
    assert_int_equal(s->reverts, 1);
    assert_string_equal(s->last_revert.service, "t");
    assert_int_equal(s->last_revert.to_version, 1);
    assert_non_null(strstr(s->last_revert.why, "not healthy within 60000 ms"));
    /* only the first batch was touched, and it runs version 1 again */
    assert_int_equal(count_on(s, "a", 1, true) + count_on(s, "b", 1, true), 4);
    assert_int_equal(count_on(s, "a", 2, false) + count_on(s, "b", 2, false), 0);
    free_sim(s);
}

/* The revert's own rollout misses its deadline too (a loaded machine: the
 * good version is slow to turn healthy): it must keep rolling back, never
 * revert to the broken version again (seen once in CI: the reverted spec
 * was reverted to the broken one). */
static void test_slow_revert_never_goes_back_to_the_broken_version(void **state) {
    (void)state;
    sim *s = new_sim(V1);
    settle(s, 4);
    mc_spec v1 = s->spec;
    s->broken_version = 2;
    s->slow_agent_at_revert = true;
    set_spec(s, V2, 2, &v1);
    for (int r = 0; r < 20 && !s->reverts; r++) tick(s);
    assert_int_equal(s->reverts, 1);
    assert_int_equal(s->last_revert.to_version, 1);
    assert_int_equal(count_on(s, "a", 2, false) + count_on(s, "b", 2, false), 1);
    /* the revert lands at once (template version 1), while an instance still
     * runs version 2, and a new instance now takes 90 s to turn healthy */
    mc_spec v2 = s->spec;
    s->broken_version = 0;
    s->healthy_after = 9;
    set_spec(s, V1, 1, &v2);
    bool kept_going = false;
    for (int r = 0; r < 9; r++) { /* past healthy_deadline (60 s) */
        tick(s);
        kept_going |= strstr(s->st->rollouts[0].why, "not reverting to version 2") != NULL;
    }
    assert_true(kept_going);          /* the rollback missed its deadline ... */
    assert_int_equal(s->reverts, 1);  /* ... and did not revert to version 2 */
    settle(s, 10);
    assert_int_equal(count_on(s, "a", 1, true) + count_on(s, "b", 1, true), 4);
    assert_int_equal(count_on(s, "a", 2, false) + count_on(s, "b", 2, false), 0);
    assert_int_equal(s->reverts, 1);
    free_sim(s);
}

static void test_canary_waits_for_promote(void **state) {
    (void)state;
    sim *s = new_sim(V1);
    settle(s, 4);
    mc_spec old = s->spec;
    set_spec(s, "services:\n  t:\n    image: x/t:2\n    count: 4\n"
                "    update: {max_parallel: 2, min_healthy_time: 10s, healthy_deadline: 60s, canary: 1}\n",
             2, &old);
    settle(s, 6);
    assert_int_equal(s->st->rollouts[0].status, MC_ROLLOUT_WAIT_PROMOTE);
    assert_int_equal(count_on(s, "a", 1, true) + count_on(s, "b", 1, true), 4);
    assert_int_equal(count_on(s, "a", 2, true) + count_on(s, "b", 2, true), 1); /* t-4, next to them */
    s->promoted = true;
    settle(s, 12);
    assert_int_equal(s->st->rollouts[0].status, MC_ROLLOUT_DONE);
    assert_int_equal(count_on(s, "a", 2, true) + count_on(s, "b", 2, true), 4); /* the canary stopped */
    assert_int_equal(s->nreports, 4);
    free_sim(s);
}

static bool runs(const sim *s, const char *name) {
    for (int i = 0; i < s->nreports; i++)
        if (strcmp(s->reports[i].name, name) == 0) return true;
    return false;
}

/* mcloud scale t 4 -> 1 while t-1 and t-2 are busy: the idle t-0 and t-3
 * stop, then the busy t-2 (the highest); busy t-1 stays and nothing else
 * moves in later rounds; scaling back up to 3 starts the lowest free
 * indices (t-0, t-2) next to t-1, which gets no order. */
static void test_scale_down_stops_idle_first(void **state) {
    (void)state;
    sim *s = new_sim(V1);
    settle(s, 4);
    assert_int_equal(s->nreports, 4);
    for (int i = 0; i < s->nreports; i++)
        s->reports[i].busy = strcmp(s->reports[i].name, "t-1") == 0 || strcmp(s->reports[i].name, "t-2") == 0;
    mc_spec old = s->spec;
    set_spec(s, "services:\n  t:\n    image: x/t:1\n    count: 1\n"
                "    update: {max_parallel: 1, min_healthy_time: 10s, healthy_deadline: 60s}\n", 2, &old);
    tick(s);
    assert_int_equal(s->orders, 3);
    assert_int_equal(s->nreports, 1);
    assert_true(runs(s, "t-1"));
    for (int i = 0; i < s->nreports; i++) s->reports[i].busy = false; /* its job done: it stays */
    settle(s, 3);
    assert_int_equal(s->orders, 0);
    assert_true(runs(s, "t-1"));
    old = s->spec;
    set_spec(s, V1, 3, &old);
    s->spec.services[0].count = 3;
    tick(s);
    assert_int_equal(s->orders, 2);
    assert_true(runs(s, "t-0") && runs(s, "t-1") && runs(s, "t-2") && !runs(s, "t-3"));
    settle(s, 3);
    assert_int_equal(s->orders, 0);
    free_sim(s);
}

/* A stop delivered but not yet seen in a heartbeat: when the busy flags
 * change meanwhile, the next round still keeps the same instance (the
 * delivered victims count as stopping) instead of picking another. */
static void test_delivered_stops_keep_the_choice(void **state) {
    (void)state;
    sim *s = new_sim(V1);
    settle(s, 4);
    for (int i = 0; i < s->nreports; i++) s->reports[i].busy = strcmp(s->reports[i].name, "t-2") == 0;
    mc_spec old = s->spec;
    set_spec(s, "services:\n  t:\n    image: x/t:1\n    count: 1\n"
                "    update: {max_parallel: 1, min_healthy_time: 10s, healthy_deadline: 60s}\n", 2, &old);
    static mc_want wants[MC_DECIDE_MAX_WANTS];
    mc_decide_revert rev[MC_SPEC_MAX_SERVICES];
    int nrev;
    int n = mc_decide(&s->spec, s->st, s->nodes, s->nnodes, s->reports, s->nreports, is_promoted, s, 100, wants,
                      MC_DECIDE_MAX_WANTS, rev, &nrev);
    assert_int_equal(n, 1);
    assert_int_equal(wants[0].index, 2);
    mc_order o[8];
    int k = mc_reconcile(wants, n, s->nodes, s->nnodes, s->reports, s->nreports, o, 8);
    assert_int_equal(k, 3);
    for (int i = 0; i < k; i++) mc_decide_stop_sent(s->st, o[i].name, o[i].node);
    /* the agents still report all four running; t-2 finished its job and t-0 took one */
    for (int i = 0; i < s->nreports; i++) s->reports[i].busy = strcmp(s->reports[i].name, "t-0") == 0;
    mc_decide_mark_stopping(s->st, s->reports, s->nreports);
    n = mc_decide(&s->spec, s->st, s->nodes, s->nnodes, s->reports, s->nreports, is_promoted, s, 101, wants,
                  MC_DECIDE_MAX_WANTS, rev, &nrev);
    assert_int_equal(n, 1);
    assert_int_equal(wants[0].index, 2);
    /* once they are gone, they are forgotten */
    for (int i = 0; i < s->nreports; i++)
        if (strcmp(s->reports[i].name, "t-2") != 0) remove_report(s, i--);
    mc_decide_mark_stopping(s->st, s->reports, s->nreports);
    assert_int_equal(s->st->nstopping, 0);
    free_sim(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spread_then_adoption_orders_nothing),
        cmocka_unit_test(test_dead_node_is_rescheduled),
        cmocka_unit_test(test_drain_keeps_a_healthy_copy),
        cmocka_unit_test(test_rolling_update_within_max_parallel),
        cmocka_unit_test(test_broken_version_is_reverted),
        cmocka_unit_test(test_slow_revert_never_goes_back_to_the_broken_version),
        cmocka_unit_test(test_canary_waits_for_promote),
        cmocka_unit_test(test_scale_down_stops_idle_first),
        cmocka_unit_test(test_delivered_stops_keep_the_choice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
