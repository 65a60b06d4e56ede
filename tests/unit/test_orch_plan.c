/* The orchestrator's pure decisions (orchestrator/plan.h): placement
 * spreads, respects resources and constraints, adopts what runs, leaves an
 * unplaceable instance pending with the reason; the reconcile plan starts,
 * replaces and stops, and moves without a gap; the rollout step honours
 * max_parallel, min_healthy_time, healthy_deadline and canaries. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "orchestrator/plan.h"

static mc_spec spec_of(const char *yaml) {
    mc_spec spec;
    mc_spec_errors errs;
    if (mc_spec_parse(yaml, strlen(yaml), NULL, &spec, &errs)) fprintf(stderr, "%s\n", errs.msg[0]);
    assert_int_equal(mc_spec_parse(yaml, strlen(yaml), NULL, &spec, &errs), 0);
    return spec;
}

static mc_node node(const char *name, double cpus, int64_t mem_mib) {
    mc_node n;
    memset(&n, 0, sizeof n);
    snprintf(n.name, sizeof n.name, "%s", name);
    n.cpus = cpus;
    n.memory_bytes = mem_mib << 20;
    n.pids = 100000;
    n.alive = true;
    return n;
}

static mc_report report(const char *service, int index, const char *node, int64_t version, bool healthy) {
    mc_report r;
    memset(&r, 0, sizeof r);
    mc_instance_name(r.name, sizeof r.name, service, index);
    snprintf(r.service, sizeof r.service, "%s", service);
    r.index = index;
    snprintf(r.node, sizeof r.node, "%s", node);
    r.spec_version = version;
    r.healthy = r.ready = healthy;
    snprintf(r.state, sizeof r.state, "running");
    return r;
}

static int wants_of(const mc_spec *spec, mc_want *w, int64_t version) {
    int n = 0;
    for (int s = 0; s < spec->service_count; s++)
        for (int i = 0; i < spec->services[s].count; i++) {
            memset(&w[n], 0, sizeof w[n]);
            snprintf(w[n].service, sizeof w[n].service, "%s", spec->services[s].name);
            w[n].index = i;
            w[n].version = version;
            n++;
        }
    return n;
}

#define SPEC2 "services:\n  t:\n    image: x/t:1\n    count: 4\n    resources: {cpus: 1, memory: 1G}\n"

static void test_spread_over_nodes(void **state) {
    (void)state;
    mc_spec spec = spec_of(SPEC2);
    mc_node nodes[] = {node("a", 8, 8192), node("b", 8, 8192)};
    mc_want w[8];
    int n = wants_of(&spec, w, 1);
    mc_place(&spec, nodes, 2, NULL, 0, w, n, NULL);
    int on_a = 0;
    for (int i = 0; i < n; i++) {
        assert_string_not_equal(w[i].node, "");
        on_a += strcmp(w[i].node, "a") == 0;
    }
    assert_int_equal(on_a, 2);
}

static void test_resources_and_pending_reason(void **state) {
    (void)state;
    mc_spec spec = spec_of(SPEC2);
    mc_node nodes[] = {node("a", 2, 8192), node("b", 8, 1536)};
    mc_want w[8];
    int n = wants_of(&spec, w, 1);
    mc_place(&spec, nodes, 2, NULL, 0, w, n, NULL);
    int placed = 0;
    for (int i = 0; i < n; i++) placed += w[i].node[0] != '\0';
    assert_int_equal(placed, 3); /* a: 2 CPUs, b: 1.5 GiB */
    assert_string_equal(w[3].node, "");
    assert_non_null(strstr(w[3].reason, "no node has room"));
    assert_non_null(strstr(w[3].reason, "1 short of CPUs"));
    assert_non_null(strstr(w[3].reason, "1 short of memory"));
    /* freeing room places it */
    nodes[1].memory_bytes = 4096ll << 20;
    mc_place(&spec, nodes, 2, NULL, 0, w, n, NULL);
    assert_string_not_equal(w[3].node, "");
    /* no node at all */
    mc_place(&spec, nodes, 0, NULL, 0, w, n, NULL);
    assert_string_equal(w[0].reason, "no node is up");
}

static void test_constraints_and_drain(void **state) {
    (void)state;
    mc_spec spec = spec_of("services:\n  t:\n    image: x/t:1\n    count: 2\n    constraints: {disk: ssd}\n");
    mc_node nodes[] = {node("a", 8, 8192), node("b", 8, 8192)};
    nodes[1].label_count = 1;
    snprintf(nodes[1].labels[0].key, 64, "disk");
    snprintf(nodes[1].labels[0].value, 64, "ssd");
    mc_want w[4];
    int n = wants_of(&spec, w, 1);
    mc_place(&spec, nodes, 2, NULL, 0, w, n, NULL);
    assert_string_equal(w[0].node, "b");
    assert_string_equal(w[1].node, "b");
    nodes[1].draining = true;
    mc_place(&spec, nodes, 2, NULL, 0, w, n, NULL);
    assert_string_equal(w[0].node, "");
    assert_non_null(strstr(w[0].reason, "1 not matching constraints"));
    assert_non_null(strstr(w[0].reason, "1 draining"));
}

static void test_adopts_where_it_runs(void **state) {
    (void)state;
    mc_spec spec = spec_of(SPEC2);
    mc_node nodes[] = {node("a", 8, 8192), node("b", 8, 8192)};
    /* all four run on b (e.g. a restarted orchestrator finds them there) */
    mc_report r[4];
    for (int i = 0; i < 4; i++) r[i] = report("t", i, "b", 1, true);
    mc_want w[8];
    int n = wants_of(&spec, w, 1);
    mc_place(&spec, nodes, 2, r, 4, w, n, NULL);
    for (int i = 0; i < n; i++) assert_string_equal(w[i].node, "b");
    mc_order o[16];
    assert_int_equal(mc_reconcile(w, n, nodes, 2, r, 4, o, 16), 0); /* nothing restarted */
    /* where it was ordered, before any report */
    const char *prev[4] = {"a", "a", "a", "a"};
    mc_place(&spec, nodes, 2, NULL, 0, w, n, prev);
    for (int i = 0; i < n; i++) assert_string_equal(w[i].node, "a");
}

static void test_dead_node_is_rescheduled_and_moves_have_no_gap(void **state) {
    (void)state;
    mc_spec spec = spec_of("services:\n  t:\n    image: x/t:1\n    count: 2\n");
    mc_node nodes[] = {node("a", 8, 8192), node("b", 8, 8192)};
    mc_report r[3] = {report("t", 0, "a", 1, true), report("t", 1, "b", 1, true)};
    mc_want w[2];
    int n = wants_of(&spec, w, 1);
    nodes[1].alive = false; /* b's heartbeat stopped: its reports are gone too */
    mc_place(&spec, nodes, 2, r, 1, w, n, NULL);
    assert_string_equal(w[1].node, "a");
    mc_order o[8];
    int k = mc_reconcile(w, n, nodes, 2, r, 1, o, 8);
    assert_int_equal(k, 1);
    assert_int_equal(o[0].kind, MC_ORDER_START);
    assert_string_equal(o[0].name, "t-1");
    assert_string_equal(o[0].node, "a");
    /* drain of b: t-1 starts on a, b's copy stops only once a's is healthy */
    nodes[1].alive = true;
    nodes[1].draining = true;
    mc_place(&spec, nodes, 2, r, 2, w, n, NULL);
    assert_string_equal(w[1].node, "a");
    k = mc_reconcile(w, n, nodes, 2, r, 2, o, 8);
    assert_int_equal(k, 1);
    assert_int_equal(o[0].kind, MC_ORDER_START);
    r[2] = report("t", 1, "a", 1, false);
    assert_int_equal(mc_reconcile(w, n, nodes, 2, r, 3, o, 8), 0);
    r[2].healthy = r[2].ready = true;
    k = mc_reconcile(w, n, nodes, 2, r, 3, o, 8);
    assert_int_equal(k, 1);
    assert_int_equal(o[0].kind, MC_ORDER_STOP);
    assert_string_equal(o[0].node, "b");
}

static void test_a_silent_node_keeps_its_instances_for_the_grace(void **state) {
    (void)state;
    mc_spec spec = spec_of("services:\n  t:\n    image: x/t:1\n    count: 3\n");
    mc_node nodes[] = {node("a", 8, 8192), node("b", 8, 8192)};
    nodes[1].stale = true; /* b's heartbeat is late: its last one stands */
    mc_report r[2] = {report("t", 0, "a", 1, true), report("t", 1, "b", 1, true)};
    mc_want w[3];
    int n = wants_of(&spec, w, 1);
    mc_place(&spec, nodes, 2, r, 2, w, n, NULL);
    assert_string_equal(w[1].node, "b"); /* not started twice elsewhere */
    assert_string_equal(w[2].node, "a"); /* nothing new goes to b */
    mc_order o[8];
    int k = mc_reconcile(w, n, nodes, 2, r, 2, o, 8);
    assert_int_equal(k, 1); /* only t-2's start on a; no order to b */
    assert_string_equal(o[0].node, "a");
    assert_string_equal(o[0].name, "t-2");
}

static void test_of_two_copies_the_healthy_one_stays(void **state) {
    (void)state;
    mc_spec spec = spec_of("services:\n  t:\n    image: x/t:1\n    count: 1\n");
    mc_node nodes[] = {node("a", 8, 8192), node("b", 8, 8192)};
    /* a duplicate crash-looping on a (say, its port taken), the healthy copy on b */
    mc_report r[2] = {report("t", 0, "a", 1, false), report("t", 0, "b", 1, true)};
    snprintf(r[0].state, sizeof r[0].state, "backoff");
    mc_want w[1];
    int n = wants_of(&spec, w, 1);
    const char *prev[1] = {"a"};
    mc_place(&spec, nodes, 2, r, 2, w, n, prev);
    assert_string_equal(w[0].node, "b");
    mc_order o[4];
    assert_int_equal(mc_reconcile(w, n, nodes, 2, r, 2, o, 4), 1);
    assert_int_equal(o[0].kind, MC_ORDER_STOP);
    assert_string_equal(o[0].node, "a");
}

static void test_replace_and_scale_down(void **state) {
    (void)state;
    mc_spec spec = spec_of("services:\n  t:\n    image: x/t:1\n    count: 1\n");
    mc_node nodes[] = {node("a", 8, 8192)};
    mc_report r[2] = {report("t", 0, "a", 1, true), report("t", 1, "a", 1, true)};
    mc_want w[1];
    int n = wants_of(&spec, w, 2);
    mc_place(&spec, nodes, 1, r, 2, w, n, NULL);
    mc_order o[8];
    int k = mc_reconcile(w, n, nodes, 1, r, 2, o, 8);
    assert_int_equal(k, 2);
    assert_int_equal(o[0].kind, MC_ORDER_REPLACE);
    assert_string_equal(o[0].name, "t-0");
    assert_int_equal(o[1].kind, MC_ORDER_STOP);
    assert_string_equal(o[1].name, "t-1");
}

static mc_spec_service rollout_svc(int count, int max_parallel, int canary) {
    mc_spec spec = spec_of("services:\n  t:\n    image: x/t:1\n    update: {min_healthy_time: 10s, healthy_deadline: 60s}\n");
    mc_spec_service s = spec.services[0];
    s.count = count;
    s.max_parallel = max_parallel;
    s.canary = canary;
    return s;
}

static void test_rollout_max_parallel_and_min_healthy(void **state) {
    (void)state;
    mc_spec_service s = rollout_svc(3, 1, 0);
    mc_rollout_inst in[3] = {{1, true, 0, 0}, {1, true, 0, 0}, {1, true, 0, 0}};
    int64_t t[3];
    char why[128];
    assert_int_equal(mc_rollout_step(&s, 1, 2, false, in, 100, t, why, sizeof why), MC_ROLLOUT_PROGRESS);
    assert_int_equal(t[0], 2);
    assert_int_equal(t[1], 1);
    assert_int_equal(t[2], 1);
    in[0] = (mc_rollout_inst){2, true, 105, 100};
    /* healthy for 5 s < 10 s: the next batch waits */
    assert_int_equal(mc_rollout_step(&s, 1, 2, false, in, 110, t, why, sizeof why), MC_ROLLOUT_PROGRESS);
    assert_int_equal(t[1], 1);
    assert_int_equal(mc_rollout_step(&s, 1, 2, false, in, 116, t, why, sizeof why), MC_ROLLOUT_PROGRESS);
    assert_int_equal(t[0], 2);
    assert_int_equal(t[1], 2);
    assert_int_equal(t[2], 1);
    in[1] = (mc_rollout_inst){2, true, 120, 116};
    in[2] = (mc_rollout_inst){2, true, 140, 131};
    assert_int_equal(mc_rollout_step(&s, 1, 2, false, in, 160, t, why, sizeof why), MC_ROLLOUT_DONE);
}

static void test_rollout_deadline_fails(void **state) {
    (void)state;
    mc_spec_service s = rollout_svc(2, 2, 0);
    mc_rollout_inst in[2] = {{2, false, 0, 100}, {2, true, 101, 100}};
    int64_t t[2];
    char why[128];
    assert_int_equal(mc_rollout_step(&s, 1, 2, false, in, 150, t, why, sizeof why), MC_ROLLOUT_PROGRESS);
    assert_int_equal(mc_rollout_step(&s, 1, 2, false, in, 161, t, why, sizeof why), MC_ROLLOUT_FAILED);
    assert_int_equal(t[0], 1); /* back to the old version */
    assert_int_equal(t[1], 1);
    assert_non_null(strstr(why, "t-0 not healthy within 60000 ms"));
}

static void test_rollout_canary_then_promote(void **state) {
    (void)state;
    mc_spec_service s = rollout_svc(2, 1, 1);
    mc_rollout_inst in[3] = {{1, true, 0, 0}, {1, true, 0, 0}, {0, false, 0, 0}};
    int64_t t[3];
    char why[128];
    assert_int_equal(mc_rollout_step(&s, 1, 2, false, in, 100, t, why, sizeof why), MC_ROLLOUT_PROGRESS);
    assert_int_equal(t[0], 1);
    assert_int_equal(t[1], 1);
    assert_int_equal(t[2], 2); /* the canary, next to the old ones */
    in[2] = (mc_rollout_inst){2, true, 101, 100};
    assert_int_equal(mc_rollout_step(&s, 1, 2, false, in, 120, t, why, sizeof why), MC_ROLLOUT_WAIT_PROMOTE);
    assert_int_equal(t[0], 1);
    /* promoted: the rest rolls, the canary serves until the end */
    assert_int_equal(mc_rollout_step(&s, 1, 2, true, in, 121, t, why, sizeof why), MC_ROLLOUT_PROGRESS);
    assert_int_equal(t[0], 2);
    assert_int_equal(t[1], 1);
    assert_int_equal(t[2], 2);
    in[0] = (mc_rollout_inst){2, true, 122, 121};
    in[1] = (mc_rollout_inst){2, true, 140, 133};
    assert_int_equal(mc_rollout_step(&s, 1, 2, true, in, 160, t, why, sizeof why), MC_ROLLOUT_DONE);
    assert_int_equal(t[2], 0); /* the canary is no longer wanted */
}

/* The scale-down victim choice: idle before busy, not ready before
 * ready, then the highest index; a copy on two nodes counts once; an
 * instance already stopping is no longer live; other services untouched. */
static void test_scale_victims_idle_first(void **state) {
    (void)state;
    mc_report r[8] = {report("t", 0, "a", 1, true), report("t", 1, "a", 1, true), report("t", 2, "b", 1, true),
                      report("t", 3, "b", 1, true), report("t", 4, "a", 1, false), report("t", 2, "a", 1, true),
                      report("t", 5, "b", 1, true), report("u", 7, "a", 1, true)};
    r[0].busy = r[2].busy = true;             /* t-0 and t-2 run a job */
    snprintf(r[6].state, sizeof r[6].state, "stopping");
    int v[8];
    /* live: t-0..t-4 (5); to 1: t-4 (not ready), t-3, t-1 (idle), then t-2 (busy, higher) */
    assert_int_equal(mc_scale_victims(r, 8, "t", 1, v, 8), 4);
    assert_int_equal(v[0], 4);
    assert_int_equal(v[1], 3);
    assert_int_equal(v[2], 1);
    assert_int_equal(v[3], 2);
    /* to 3: only the idle ones go, both busy ones stay */
    assert_int_equal(mc_scale_victims(r, 8, "t", 3, v, 8), 2);
    assert_int_equal(v[0], 4);
    assert_int_equal(v[1], 3);
    assert_int_equal(mc_scale_victims(r, 8, "t", 5, v, 8), 0);
    assert_int_equal(mc_scale_victims(r, 8, "t", 9, v, 8), 0);
    assert_int_equal(mc_scale_victims(r, 8, "t", 0, v, 2), 2); /* bounded by max */
    assert_int_equal(mc_scale_victims(r, 8, "u", 0, v, 8), 1);
    assert_int_equal(v[0], 7);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spread_over_nodes),
        cmocka_unit_test(test_resources_and_pending_reason),
        cmocka_unit_test(test_constraints_and_drain),
        cmocka_unit_test(test_adopts_where_it_runs),
        cmocka_unit_test(test_dead_node_is_rescheduled_and_moves_have_no_gap),
        cmocka_unit_test(test_a_silent_node_keeps_its_instances_for_the_grace),
        cmocka_unit_test(test_of_two_copies_the_healthy_one_stays),
        cmocka_unit_test(test_replace_and_scale_down),
        cmocka_unit_test(test_scale_victims_idle_first),
        cmocka_unit_test(test_rollout_max_parallel_and_min_healthy),
        cmocka_unit_test(test_rollout_deadline_fails),
        cmocka_unit_test(test_rollout_canary_then_promote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
