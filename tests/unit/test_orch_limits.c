/* Live resource limits (orchestrator/limits.h, orchestrator/agent/limits.h):
 * a change of resources alone is an in-place change that starts no rollout
 * (the decide + reconcile round orders nothing, where an image change
 * replaces), the operator body is strict, a memory limit below an
 * instance's usage is refused naming the field, the instance and its node,
 * an instance gets the newest limits recorded for its own template, the
 * agent's body and order rewrite, the engine's update body, and the
 * heartbeat's "resources". */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/docker.h"
#include "orchestrator/agent/limits.h"
#include "orchestrator/decide.h"
#include "orchestrator/limits.h"
#include "orchestrator/wire.h"

#define SPEC(image, mem) \
    "services:\n  t:\n    image: " image "\n    count: 2\n    resources: {cpus: 0.5, memory: " mem ", pids: 256}\n"

static void parse(const char *yaml, mc_spec *out) {
    mc_spec_errors errs;
    assert_int_equal(mc_spec_parse(yaml, strlen(yaml), NULL, out, &errs), 0);
}

static void test_change_kinds(void **state) {
    (void)state;
    mc_spec a, more_mem, scaled, image, both;
    parse(SPEC("x/t:1", "256M"), &a);
    parse(SPEC("x/t:1", "512M"), &more_mem);
    parse(SPEC("x/t:2", "256M"), &image);
    parse(SPEC("x/t:2", "512M"), &both);
    scaled = a;
    scaled.services[0].count = 5;
    assert_int_equal(mc_spec_change(&a.services[0], &a.services[0]), MC_CHANGE_NONE);
    assert_int_equal(mc_spec_change(&a.services[0], &scaled.services[0]), MC_CHANGE_NONE);
    assert_int_equal(mc_spec_change(&a.services[0], &more_mem.services[0]), MC_CHANGE_IN_PLACE);
    assert_true(mc_spec_same_template(&a.services[0], &more_mem.services[0]));
    assert_int_equal(mc_spec_change(&a.services[0], &image.services[0]), MC_CHANGE_ROLLOUT);
    assert_int_equal(mc_spec_change(&a.services[0], &both.services[0]), MC_CHANGE_ROLLOUT);
    assert_string_equal(mc_spec_change_name(MC_CHANGE_IN_PLACE), "in place");
    char *d = mc_spec_diff(&a, &more_mem); /* the version is recorded with its diff */
    assert_non_null(strstr(d, "~ t.resources.memory: 256M -> 512M\n"));
    free(d);
}

/* One round as loop.c runs it, after the spec changed from a to b (the
 * template version of b computed as loop.c's template_version does): how
 * many orders reach the agents. Two healthy instances run version 1. */
static int orders_after(const mc_spec *a, const mc_spec *b) {
    mc_decide_state *st = calloc(1, sizeof *st);
    int64_t tmpl = 1;
    mc_decide_new_spec(st, NULL, a, &tmpl);
    if (!mc_spec_same_template(&a->services[0], &b->services[0])) tmpl = 2;
    mc_decide_new_spec(st, a, b, &tmpl);
    mc_node node = {.name = "n", .cpus = 8, .memory_bytes = 8ll << 30, .pids = 100000, .alive = true};
    mc_report r[2];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 2; i++) {
        snprintf(r[i].name, sizeof r[i].name, "t-%d", i);
        snprintf(r[i].service, sizeof r[i].service, "t");
        snprintf(r[i].node, sizeof r[i].node, "n");
        snprintf(r[i].state, sizeof r[i].state, "running");
        r[i].index = i;
        r[i].spec_version = 1;
        r[i].healthy = r[i].ready = true;
    }
    static mc_want wants[MC_DECIDE_MAX_WANTS];
    mc_decide_revert reverts[MC_SPEC_MAX_SERVICES];
    int nrev = 0;
    int n = mc_decide(b, st, &node, 1, r, 2, NULL, NULL, 100.0, wants, MC_DECIDE_MAX_WANTS, reverts, &nrev);
    mc_order orders[8];
    int count = mc_reconcile(wants, n, &node, 1, r, 2, orders, 8);
    free(st);
    return count;
}

static void test_resources_alone_start_no_rollout(void **state) {
    (void)state;
    mc_spec a, more_mem, image;
    parse(SPEC("x/t:1", "256M"), &a);
    parse(SPEC("x/t:1", "512M"), &more_mem);
    parse(SPEC("x/t:2", "256M"), &image);
    assert_int_equal(orders_after(&a, &more_mem), 0); /* in place: nothing replaced */
    assert_int_equal(orders_after(&a, &image), 1);    /* a rollout: max_parallel 1 replaced */
}

static void test_operator_body(void **state) {
    (void)state;
    mc_limits cur = {0.5, 256ll << 20, 256}, out;
    mc_err err = {0};
#define OK(body) assert_int_equal(mc_api_parse_resources(body, strlen(body), &cur, &out, &err), 0)
    OK("{\"cpus\":1.5,\"memory\":\"2G\",\"pids\":512}");
    assert_true(out.cpus == 1.5 && out.memory_bytes == 2ll << 30 && out.pids == 512);
    OK("{\"memory\":536870912}");
    assert_true(out.cpus == 0.5 && out.memory_bytes == 512ll << 20 && out.pids == 256); /* the rest kept */
#define BAD(body, field)                                                                       \
    do {                                                                                       \
        memset(&err, 0, sizeof err);                                                           \
        assert_int_equal(mc_api_parse_resources(body, strlen(body), &cur, &out, &err), -1);    \
        assert_int_equal(err.kind, MC_ERR_INVALID);                                            \
        assert_non_null(strstr(err.msg, field));                                               \
    } while (0)
    BAD("{}", "cpus");
    BAD("{\"memory\":\"3M\"}", "'memory'");
    BAD("{\"memory\":\"two gigs\"}", "'memory'");
    BAD("{\"memory\":true}", "'memory'");
    BAD("{\"cpus\":0}", "'cpus'");
    BAD("{\"cpus\":\"1\"}", "'cpus'");
    BAD("{\"pids\":8}", "'pids'");
    BAD("{\"pids\":1.5}", "'pids'");
    BAD("{\"count\":3}", "'count'");
    BAD("[1]", "");
}

static void test_memory_below_usage_is_refused(void **state) {
    (void)state;
    mc_report r[2] = {{.name = "t-0", .service = "t", .node = "node-1", .memory_bytes = 40ll << 20},
                      /* another service's usage does not count */
                      {.name = "o-0", .service = "other", .node = "node-1", .memory_bytes = 4ll << 30}};
    mc_limits want = {1, 32ll << 20, 256};
    mc_err err = {0};
    assert_int_equal(mc_limits_check("t", &want, r, 2, &err), -1);
    assert_int_equal(err.kind, MC_ERR_CONFLICT);
    assert_non_null(strstr(err.msg, "field 'memory'"));
    assert_non_null(strstr(err.msg, "t-0"));
    assert_non_null(strstr(err.msg, "node-1"));
    assert_non_null(strstr(err.msg, "nothing changed"));
    want.memory_bytes = 64ll << 20;
    assert_int_equal(mc_limits_check("t", &want, r, 2, &err), 0);
}

static void test_limits_follow_the_template(void **state) {
    (void)state;
    static mc_spec v1, v2, v3, v4;
    parse(SPEC("x/t:1", "256M"), &v1);
    parse(SPEC("x/t:1", "512M"), &v2); /* in place: template 1 */
    parse(SPEC("x/t:2", "1G"), &v3);   /* a rollout: template 3 */
    parse(SPEC("x/t:2", "2G"), &v4);   /* in place: template 3 */
    mc_limits_hist h[] = {{4, &v4}, {3, &v3}, {2, &v2}, {1, &v1}};
    mc_limits l;
    assert_int_equal(mc_limits_for(h, 4, "t", 1, &l), 0);
    assert_int_equal(l.memory_bytes, 512ll << 20); /* an old copy (a canary's neighbours) keeps its own */
    assert_int_equal(mc_limits_for(h, 4, "t", 3, &l), 0);
    assert_int_equal(l.memory_bytes, 2ll << 30);
    assert_int_equal(mc_limits_for(h, 4, "t", 9, &l), -1);
    assert_int_equal(mc_limits_for(h, 4, "nope", 1, &l), -1);
}

static void test_agent_body_and_order_rewrite(void **state) {
    (void)state;
    mc_agent_limits l;
    mc_err err = {0};
    const char *ok = "{\"cpus\":1.5,\"memory_bytes\":2147483648,\"pids\":512}";
    assert_int_equal(mc_agent_limits_parse(ok, strlen(ok), &l, &err), 0);
    assert_true(l.cpus == 1.5 && l.memory_bytes == 2147483648LL && l.pids == 512);
    const char *bad[] = {"{\"cpus\":1.5,\"memory_bytes\":1024,\"pids\":512}", "{\"memory_bytes\":4194304,\"pids\":16}",
                         "{\"cpus\":1,\"memory_bytes\":4194304,\"pids\":16,\"x\":1}", "nope"};
    const char *field[] = {"memory_bytes", "cpus", "'x'", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(mc_agent_limits_parse(bad[i], strlen(bad[i]), &l, &err), -1);
        assert_int_equal(err.kind, MC_ERR_INVALID);
        assert_non_null(strstr(err.msg, field[i]));
    }
    /* the order kept in the state dir: new limits, everything else as it was */
    const char *order = "{\"v\":1,\"service\":\"t\",\"index\":0,\"image\":\"x/t:1\",\"spec_version\":3,\"port\":20000,"
                        "\"env\":{\"A\":\"b\"},\"resources\":{\"cpus\":0.5,\"memory_bytes\":268435456,\"pids\":256}}";
    char *text = mc_agent_limits_rewrite(order, &l);
    assert_non_null(text);
    mc_agent_order o;
    assert_int_equal(mc_agent_order_parse("t-0", text, strlen(text), &o, &err), 0);
    assert_true(o.cpus == 1.5 && o.memory_bytes == 2147483648LL && o.pids == 512);
    assert_int_equal(o.spec_version, 3);
    assert_int_equal(o.nenv, 1);
    mc_agent_order_free(&o);
    free(text);
    assert_null(mc_agent_limits_rewrite("[]", &l));
}

static void test_engine_update_body(void **state) {
    (void)state;
    json_t *b = mc_docker_update_body(512ll << 20, 1500000000, 300);
    json_t *mem = json_object_get(b, "memory"), *cpu = json_object_get(b, "cpu"), *pids = json_object_get(b, "pids");
    assert_int_equal(json_integer_value(json_object_get(mem, "limit")), 512ll << 20);
    assert_int_equal(json_integer_value(json_object_get(mem, "swap")), 1024ll << 20);
    assert_int_equal(json_integer_value(json_object_get(cpu, "quota")), 150000); /* 1.5 CPUs per 100 ms */
    assert_int_equal(json_integer_value(json_object_get(cpu, "period")), 100000);
    assert_int_equal(json_integer_value(json_object_get(pids, "limit")), 300);
    json_decref(b);
}

static void test_heartbeat_carries_the_limits(void **state) {
    (void)state;
    const char *hb = "{\"v\":1,\"node\":\"n\",\"agent_url\":\"http://127.0.0.1:1\",\"capacity\":{\"cpus\":2,"
                     "\"memory_bytes\":1e9},\"free\":{\"cpus\":2,\"memory_bytes\":1e9},\"instances\":[{\"name\":\"t-0\","
                     "\"service\":\"t\",\"index\":0,\"state\":\"running\",\"spec_version\":1,\"resources\":{\"cpus\":1.5,"
                     "\"memory_bytes\":2147483648,\"pids\":512,\"applied\":false}}]}";
    mc_node node;
    mc_report r[2];
    int n;
    mc_err err = {0};
    assert_int_equal(mc_heartbeat_parse(hb, strlen(hb), &node, r, 2, &n, &err), 0);
    assert_true(r[0].has_limits && !r[0].limits_applied);
    assert_true(r[0].limit_cpus == 1.5 && r[0].limit_memory_bytes == 2147483648LL && r[0].limit_pids == 512);
    const char *broken = "{\"v\":1,\"node\":\"n\",\"agent_url\":\"http://127.0.0.1:1\",\"capacity\":{\"cpus\":2,"
                         "\"memory_bytes\":1e9},\"free\":{\"cpus\":2,\"memory_bytes\":1e9},\"instances\":[{\"name\":"
                         "\"t-0\",\"service\":\"t\",\"index\":0,\"state\":\"running\",\"spec_version\":1,"
                         "\"resources\":{\"cpus\":1.5}}]}";
    assert_int_equal(mc_heartbeat_parse(broken, strlen(broken), &node, r, 2, &n, &err), -1);
    assert_non_null(strstr(err.msg, "memory_bytes"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_change_kinds),
        cmocka_unit_test(test_resources_alone_start_no_rollout),
        cmocka_unit_test(test_operator_body),
        cmocka_unit_test(test_memory_below_usage_is_refused),
        cmocka_unit_test(test_limits_follow_the_template),
        cmocka_unit_test(test_agent_body_and_order_rewrite),
        cmocka_unit_test(test_engine_update_body),
        cmocka_unit_test(test_heartbeat_carries_the_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
