/* The orchestrator's wire formats (orchestrator/wire.h) against the
 * orchestrator <-> agent contract (docs/ARCHITECTURE.md): the contract's
 * heartbeat example parses, broken ones are refused naming the field, the
 * order body carries what the contract lists, operator bodies are strict. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "orchestrator/wire.h"

static const char *hb =
    "{\"v\":1,\"node\":\"node-1\",\"agent_url\":\"http://127.0.0.1:20430\",\"labels\":{\"disk\":\"ssd\"},"
    "\"capacity\":{\"cpus\":2.0,\"memory_bytes\":8589934592,\"pids\":4096},"
    "\"free\":{\"cpus\":1.2,\"memory_bytes\":4294967296},"
    "\"instances\":[{\"name\":\"transcode-0\",\"service\":\"transcode\",\"index\":0,\"container_id\":\"abc\","
    "\"state\":\"running\",\"ready\":true,\"healthy\":true,\"restarts\":2,\"last_exit_code\":1,"
    "\"spec_version\":7,\"port\":21100,\"started_at\":\"2026-12-06T03:00:00Z\","
    "\"usage\":{\"cpu_seconds\":12.5,\"cpu_percent\":37.5,\"memory_bytes\":52428800,\"pids\":9},"
    "\"restart_schedule_ms\":[1,2,3,4,5,6,7,8,9,10]}],\"fence\":42}";

static void test_contract_heartbeat_parses(void **state) {
    (void)state;
    mc_node node;
    mc_report r[4];
    int n;
    mc_err err = {0};
    assert_int_equal(mc_heartbeat_parse(hb, strlen(hb), &node, r, 4, &n, &err), 0);
    assert_true(node.alive);
    assert_string_equal(node.name, "node-1");
    assert_string_equal(node.agent_url, "http://127.0.0.1:20430");
    assert_int_equal(node.fence, 42);
    assert_int_equal(node.memory_bytes, 8589934592LL);
    assert_int_equal(node.pids, 4096);
    assert_int_equal(node.label_count, 1);
    assert_string_equal(node.labels[0].value, "ssd");
    assert_int_equal(n, 1);
    assert_string_equal(r[0].name, "transcode-0");
    assert_string_equal(r[0].node, "node-1");
    assert_int_equal(r[0].spec_version, 7);
    assert_int_equal(r[0].restarts, 2);
    assert_int_equal(r[0].last_exit_code, 1);
    assert_true(r[0].healthy && r[0].ready);
    assert_true(r[0].cpu_seconds == 12.5 && r[0].cpu_percent == 37.5);
    assert_int_equal(r[0].memory_bytes, 52428800);
    assert_int_equal(r[0].pids, 9);
    assert_int_equal(r[0].nschedule, MC_REPORT_SCHEDULE_MAX); /* the last ones */
    assert_int_equal(r[0].schedule_ms[0], 3);
    assert_int_equal(r[0].schedule_ms[MC_REPORT_SCHEDULE_MAX - 1], 10);
}

static void test_broken_heartbeats_name_the_field(void **state) {
    (void)state;
    static const struct {
        const char *from, *to, *msg;
    } edits[] = {
        {"\"node\":\"node-1\"", "\"node\":\"../x\"", "node"},
        {"\"agent_url\":\"http://", "\"agent_url\":\"file://", "agent_url"},
        {"\"spec_version\":7", "\"spec_version\":\"7\"", "spec_version"},
        {"\"v\":1", "\"v\":2", "v"},
        {"\"instances\":[", "\"instances\":7,\"x\":[", "instances"},
        {"\"cpus\":2.0", "\"cpus\":-1", "cpus"},
        {"\"cpu_percent\":37.5", "\"cpu_percent\":-3", "usage: field 'cpu_percent'"},
        {"\"pids\":9}", "\"pids\":\"9\"}", "usage: field 'pids'"},
        {"[1,2,3", "[-1,2,3", "restart_schedule_ms"},
        {"\"restart_schedule_ms\":[", "\"restart_schedule_ms\":7,\"x\":[", "restart_schedule_ms"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char buf[2048];
        const char *at = strstr(hb, edits[i].from);
        assert_non_null(at);
        snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - hb), hb, edits[i].to, at + strlen(edits[i].from));
        mc_node node;
        mc_report r[4];
        int n = 9;
        mc_err err = {0};
        assert_int_equal(mc_heartbeat_parse(buf, strlen(buf), &node, r, 4, &n, &err), -1);
        assert_int_equal(n, 0);
        if (!strstr(err.msg, edits[i].msg)) fprintf(stderr, "%s: %s\n", edits[i].to, err.msg);
        assert_non_null(strstr(err.msg, edits[i].msg));
    }
}

static void test_public_ports_for_the_edge(void **state) {
    (void)state;
    const char *y = "services:\n  up:\n    image: localhost/mcloud-upload:1\n    ports: {public: 18080}\n"
                    "  work:\n    image: localhost/mcloud-transcode:1\n"
                    "  st:\n    image: localhost/mcloud-stream:1\n    ports: {public: 18081, env: MCLOUD_STREAM_PORT}\n";
    mc_spec spec;
    mc_spec_errors errs;
    assert_int_equal(mc_spec_parse(y, strlen(y), NULL, &spec, &errs), 0);
    char *text = mc_public_ports_json(&spec);
    assert_non_null(text);
    assert_string_equal(text, "{\"v\":1,\"ports\":{\"up\":18080,\"st\":18081}}"); /* work has none */
    free(text);
}

static void test_order_body_follows_the_contract(void **state) {
    (void)state;
    const char *y = "services:\n  a:\n    image: localhost/mcloud-upload:1\n  stream:\n"
                    "    image: localhost/mcloud-stream:2\n    env: {MCLOUD_LOG_LEVEL: debug}\n"
                    "    volume: {name: cache, target: /var/cache/mcloud}\n    stop_grace: 20s\n";
    mc_spec spec;
    mc_spec_errors errs;
    assert_int_equal(mc_spec_parse(y, strlen(y), NULL, &spec, &errs), 0);
    json_t *b = mc_order_body(&spec.services[1], mc_spec_instance_port(&spec, 1, 1, 0), 1, 7);
    assert_non_null(b);
    assert_int_equal(json_integer_value(json_object_get(b, "port")), 21101);
    assert_int_equal(json_integer_value(json_object_get(b, "spec_version")), 7);
    assert_string_equal(json_string_value(json_object_get(b, "image")), "localhost/mcloud-stream:2");
    json_t *env = json_object_get(b, "env");
    assert_string_equal(json_string_value(json_object_get(env, "MCLOUD_STREAM_PORT")), "21101");
    assert_string_equal(json_string_value(json_object_get(env, "MCLOUD_LOG_LEVEL")), "debug");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(b, "resources"), "memory_bytes")), 256 << 20);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(b, "restart"), "max_delay_ms")), 30000);
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "health"), "ready_path")), "/readyz");
    assert_int_equal(json_integer_value(json_object_get(b, "stop_grace_ms")), 20000);
    json_t *vol = json_array_get(json_object_get(b, "volumes"), 0);
    assert_string_equal(json_string_value(json_object_get(vol, "name")), "stream-1-cache");
    json_decref(b);
}

static void test_operator_bodies(void **state) {
    (void)state;
    int count;
    bool drain;
    mc_err err = {0};
    assert_int_equal(mc_api_parse_scale("{\"count\":4}", 11, &count, &err), 0);
    assert_int_equal(count, 4);
    assert_int_equal(mc_api_parse_scale("{\"count\":-1}", 12, &count, &err), -1);
    assert_non_null(strstr(err.msg, "count"));
    assert_int_equal(mc_api_parse_scale("{\"count\":1,\"x\":1}", 17, &count, &err), -1);
    assert_non_null(strstr(err.msg, "'x' is unknown"));
    assert_int_equal(mc_api_parse_scale("[1]", 3, &count, &err), -1);
    int min, max;
    assert_int_equal(mc_api_parse_scale_bounds("{\"count\":4}", 11, &min, &max, &err), 0);
    assert_int_equal(mc_api_parse_scale_bounds("{\"min\":2,\"max\":4}", 17, &min, &max, &err), 1);
    assert_int_equal(min, 2);
    assert_int_equal(max, 4);
    assert_int_equal(mc_api_parse_scale_bounds("{\"max\":3}", 9, &min, &max, &err), 1);
    assert_int_equal(min, -1);
    assert_int_equal(max, 3);
    assert_int_equal(mc_api_parse_scale_bounds("{\"max\":0}", 9, &min, &max, &err), -1);
    assert_non_null(strstr(err.msg, "max"));
    assert_int_equal(mc_api_parse_scale_bounds("{\"min\":1,\"count\":2}", 19, &min, &max, &err), -1);
    assert_non_null(strstr(err.msg, "'count' is unknown"));
    assert_int_equal(mc_api_parse_drain("{\"drain\":false}", 15, &drain, &err), 0);
    assert_false(drain);
    assert_int_equal(mc_api_parse_drain("{\"drain\":1}", 11, &drain, &err), -1);
    assert_true(mc_api_name_valid("node-1"));
    assert_false(mc_api_name_valid("Node"));
    assert_false(mc_api_name_valid("a/b"));
    assert_false(mc_api_name_valid(""));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contract_heartbeat_parses),
        cmocka_unit_test(test_broken_heartbeats_name_the_field),
        cmocka_unit_test(test_order_body_follows_the_contract),
        cmocka_unit_test(test_public_ports_for_the_edge),
        cmocka_unit_test(test_operator_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
