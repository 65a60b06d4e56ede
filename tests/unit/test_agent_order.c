/* Unit tests for the node agent's orders (orchestrator/agent/order.c): the
 * contract's PUT body, errors naming the field, the fencing rule, which
 * container found under an order's name is taken as the order's. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "orchestrator/agent/order.h"

static const char *FULL =
    "{\"v\":1,\"service\":\"stream\",\"index\":1,\"image\":\"localhost/mcloud-stream:abc\","
    "\"spec_version\":7,\"port\":20123,\"env\":{\"MCLOUD_STREAM_PORT\":\"20123\",\"X\":\"y\"},"
    "\"resources\":{\"cpus\":0.5,\"memory_bytes\":268435456,\"pids\":256},"
    "\"health\":{\"path\":\"/healthz\",\"ready_path\":\"/readyz\",\"interval_ms\":2000,\"timeout_ms\":1000,\"failures\":3},"
    "\"restart\":{\"attempts\":10,\"interval_ms\":60000,\"delay_ms\":500,\"max_delay_ms\":30000},"
    "\"stop_grace_ms\":30000,\"volumes\":[{\"name\":\"stream-1-cache\",\"target\":\"/var/cache/mcloud\"}]}";

static void the_contract_example_parses(void **state) {
    (void)state;
    mc_agent_order o;
    mc_err err = {0};
    assert_int_equal(mc_agent_order_parse("stream-1", FULL, strlen(FULL), &o, &err), 0);
    assert_string_equal(o.service, "stream");
    assert_int_equal(o.index, 1);
    assert_int_equal(o.spec_version, 7);
    assert_int_equal(o.port, 20123);
    assert_int_equal(o.nenv, 2);
    assert_string_equal(o.env[0].key, "MCLOUD_STREAM_PORT");
    assert_string_equal(o.env[0].value, "20123");
    assert_true(o.cpus > 0.49 && o.cpus < 0.51);
    assert_int_equal(o.memory_bytes, 268435456);
    assert_int_equal(o.pids, 256);
    assert_int_equal(o.health.failures, 3);
    assert_int_equal(o.restart.max_delay_ms, 30000);
    assert_int_equal(o.nvolumes, 1);
    assert_string_equal(o.volumes[0].target, "/var/cache/mcloud");
    char name[128];
    assert_int_equal(mc_agent_container_name("node-1", &o, name, sizeof name), 0);
    assert_string_equal(name, "mcloud-node-1-stream-1");
    mc_agent_order_free(&o);
}

static void defaults_fill_what_is_left_out(void **state) {
    (void)state;
    const char *min = "{\"v\":1,\"service\":\"upload\",\"index\":0,\"image\":\"i\",\"spec_version\":1,\"port\":1}";
    mc_agent_order o;
    mc_err err = {0};
    assert_int_equal(mc_agent_order_parse("upload-0", min, strlen(min), &o, &err), 0);
    assert_string_equal(o.health.path, "/healthz");
    assert_string_equal(o.health.ready_path, "/readyz");
    assert_int_equal(o.restart.delay_ms, 500);
    assert_int_equal(o.stop_grace_ms, 30000);
    mc_agent_order_free(&o);
}

static void bad_orders_name_the_field(void **state) {
    (void)state;
    static const struct { const char *name, *body, *needle; } cases[] = {
        {"stream-1", "{", "line"},
        {"stream-1", "[]", "object"},
        {"stream-1", "{\"v\":2,\"service\":\"stream\",\"index\":1,\"image\":\"i\",\"spec_version\":1,\"port\":1}", "'v'"},
        {"stream-1", "{\"v\":1,\"index\":1,\"image\":\"i\",\"spec_version\":1,\"port\":1}", "'service'"},
        {"stream-1", "{\"v\":1,\"service\":\"stream\",\"index\":2,\"image\":\"i\",\"spec_version\":1,\"port\":1}", "'index'"},
        {"stream-1", "{\"v\":1,\"service\":\"stream\",\"index\":1,\"image\":\"i\",\"spec_version\":1,\"port\":70000}", "'port'"},
        {"stream-1", "{\"v\":1,\"service\":\"stream\",\"index\":1,\"image\":\"i\",\"spec_version\":1,\"port\":1,\"env\":{\"A=B\":\"x\"}}", "'env'"},
        {"stream-1", "{\"v\":1,\"service\":\"stream\",\"index\":1,\"image\":\"i\",\"spec_version\":1,\"port\":1,\"env\":{\"A\":1}}", "env.A"},
        {"stream-1", "{\"v\":1,\"service\":\"stream\",\"index\":1,\"image\":\"i\",\"spec_version\":1,\"port\":1,\"resources\":{\"cpus\":\"1\"}}", "resources.cpus"},
        {"stream-1", "{\"v\":1,\"service\":\"stream\",\"index\":1,\"image\":\"i\",\"spec_version\":1,\"port\":1,\"resources\":{\"memory_bytes\":-1}}", "memory_bytes"},
        {"stream-1", "{\"v\":1,\"service\":\"stream\",\"index\":1,\"image\":\"i\",\"spec_version\":1,\"port\":1,\"health\":{\"failures\":0}}", "failures"},
        {"stream-1", "{\"v\":1,\"service\":\"stream\",\"index\":1,\"image\":\"i\",\"spec_version\":1,\"port\":1,\"restart\":{\"delay_ms\":10,\"max_delay_ms\":5}}", "max_delay_ms"},
        {"stream-1", "{\"v\":1,\"service\":\"stream\",\"index\":1,\"image\":\"i\",\"spec_version\":1,\"port\":1,\"volumes\":[{\"name\":\"c\",\"target\":\"rel\"}]}", "volumes[0].target"},
        {"stream-1", "{\"v\":1,\"service\":\"stream\",\"index\":1,\"image\":\"a b\",\"spec_version\":1,\"port\":1}", "'image'"},
        {"Bad_Name", "{}", "instance name"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        mc_agent_order o;
        mc_err err = {0};
        assert_int_equal(mc_agent_order_parse(cases[i].name, cases[i].body, strlen(cases[i].body), &o, &err), -1);
        assert_int_equal(err.kind, MC_ERR_INVALID);
        if (!strstr(err.msg, cases[i].needle)) fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].needle);
    }
}

static void fence_accepts_equal_or_higher_and_refuses_older(void **state) {
    (void)state;
    uint64_t highest = 0;
    mc_err err = {0};
    assert_int_equal(mc_agent_fence_check("42", &highest, &err), 0);
    assert_int_equal(highest, 42);
    assert_int_equal(mc_agent_fence_check("42", &highest, &err), 0);
    assert_int_equal(mc_agent_fence_check("41", &highest, &err), -1);
    assert_int_equal(err.kind, MC_ERR_CONFLICT);
    assert_int_equal(highest, 42);
    assert_int_equal(mc_agent_fence_check("43", &highest, &err), 0);
    assert_int_equal(highest, 43);
    const char *bad[] = {NULL, "", "-1", "12x", " 5", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(mc_agent_fence_check(bad[i], &highest, &err), -1);
        assert_int_equal(err.kind, MC_ERR_INVALID);
    }
    assert_int_equal(highest, 43);
}

static void restarts_beyond_attempts_wait_max_delay_until_the_interval_passes(void **state) {
    (void)state;
    mc_agent_restart r = {.attempts = 3, .interval_ms = 60000, .delay_ms = 500, .max_delay_ms = 30000};
    mc_agent_restart_window w = {0};
    double t = 1000;
    assert_int_equal(mc_agent_restart_delay(&r, &w, t, 500), 500);
    assert_int_equal(mc_agent_restart_delay(&r, &w, t + 1, 1000), 1000);
    assert_int_equal(mc_agent_restart_delay(&r, &w, t + 3, 2000), 2000);
    /* the fourth within the minute: the slowest delay */
    assert_int_equal(mc_agent_restart_delay(&r, &w, t + 6, 4000), 30000);
    assert_int_equal(mc_agent_restart_delay(&r, &w, t + 40, 8000), 30000);
    assert_int_equal(w.count, 5);
    /* a whole interval after the window began: counting starts again */
    assert_int_equal(mc_agent_restart_delay(&r, &w, t + 60, 500), 500);
    assert_int_equal(w.count, 1);
    /* attempts 0: every restart waits the slowest delay */
    mc_agent_restart none = {.attempts = 0, .interval_ms = 60000, .delay_ms = 500, .max_delay_ms = 5000};
    mc_agent_restart_window w0 = {0};
    assert_int_equal(mc_agent_restart_delay(&none, &w0, t, 500), 5000);
}

/* A container as inspect reports it: state and labels. */
static mc_docker_container container(const char *state, const char *instance, const char *node, const char *version) {
    mc_docker_container c = {0};
    snprintf(c.state, sizeof c.state, "%s", state);
    c.labels = json_pack("{s:s,s:s,s:s,s:s}", "mcloud.managed", "true", "mcloud.instance", instance, "mcloud.node",
                         node, "mcloud.spec_version", version);
    return c;
}

static void a_created_or_running_container_of_the_same_order_is_taken(void **state) {
    (void)state;
    mc_agent_order o;
    mc_err err = {0};
    assert_int_equal(mc_agent_order_parse("stream-1", FULL, strlen(FULL), &o, &err), 0);
    struct {
        const char *state, *instance, *node, *version;
        bool taken;
    } cases[] = {
        {"created", "stream-1", "node-1", "7", true},   /* a create that timed out here but happened */
        {"running", "stream-1", "node-1", "7", true},   /* its start too */
        {"exited", "stream-1", "node-1", "7", false},   /* dead: an earlier life, made anew */
        {"created", "stream-1", "node-1", "6", false},  /* an older version's */
        {"created", "stream-0", "node-1", "7", false},
        {"running", "stream-1", "node-2", "7", false},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        mc_docker_container c = container(cases[k].state, cases[k].instance, cases[k].node, cases[k].version);
        assert_int_equal(mc_agent_container_is_order(&c, "node-1", &o), cases[k].taken);
        mc_docker_container_clear(&c);
    }
    mc_docker_container unmanaged = container("created", "stream-1", "node-1", "7");
    json_object_del(unmanaged.labels, "mcloud.managed");
    assert_false(mc_agent_container_is_order(&unmanaged, "node-1", &o));
    mc_docker_container_clear(&unmanaged);
    mc_docker_container none = {.state = "created"}; /* no labels at all */
    assert_false(mc_agent_container_is_order(&none, "node-1", &o));
    mc_agent_order_free(&o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_contract_example_parses),
        cmocka_unit_test(defaults_fill_what_is_left_out),
        cmocka_unit_test(bad_orders_name_the_field),
        cmocka_unit_test(fence_accepts_equal_or_higher_and_refuses_older),
        cmocka_unit_test(restarts_beyond_attempts_wait_max_delay_until_the_interval_passes),
        cmocka_unit_test(a_created_or_running_container_of_the_same_order_is_taken),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
