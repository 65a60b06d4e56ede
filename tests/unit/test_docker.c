/* Unit tests for the Docker Engine API client's pure half: the create body,
 * the label filter, inspect/list/event parsing and log demultiplexing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/docker.h"

static void create_body_carries_limits_labels_env_and_host_network(void **state) {
    (void)state;
    mc_docker_kv env[] = {{"MCLOUD_STREAM_PORT", "20123"}, {"A", "b=c"}};
    mc_docker_kv labels[] = {{"mcloud.service", "stream"}, {"mcloud.managed", "true"}};
    mc_docker_volume vols[] = {{"stream-1-cache", "/var/cache/mcloud"}};
    mc_docker_spec spec = {.image = "localhost/mcloud-stream:latest", .env = env, .nenv = 2,
                           .labels = labels, .nlabels = 2, .volumes = vols, .nvolumes = 1,
                           .memory_bytes = 268435456, .nano_cpus = 500000000, .pids_limit = 256,
                           .stop_timeout_s = 30};
    mc_err err = {0};
    json_t *b = mc_docker_create_body(&spec, &err);
    assert_non_null(b);
    assert_string_equal(json_string_value(json_object_get(b, "Image")), spec.image);
    json_t *e = json_object_get(b, "Env");
    assert_int_equal(json_array_size(e), 2);
    assert_string_equal(json_string_value(json_array_get(e, 0)), "MCLOUD_STREAM_PORT=20123");
    assert_string_equal(json_string_value(json_array_get(e, 1)), "A=b=c");
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "Labels"), "mcloud.service")),
                        "stream");
    json_t *h = json_object_get(b, "HostConfig");
    assert_string_equal(json_string_value(json_object_get(h, "NetworkMode")), "host");
    assert_int_equal(json_integer_value(json_object_get(h, "Memory")), 268435456);
    assert_int_equal(json_integer_value(json_object_get(h, "NanoCpus")), 500000000);
    assert_int_equal(json_integer_value(json_object_get(h, "PidsLimit")), 256);
    json_t *u = json_array_get(json_object_get(h, "Ulimits"), 0);
    assert_string_equal(json_string_value(json_object_get(u, "Name")), "nproc");
    assert_int_equal(json_integer_value(json_object_get(u, "Soft")), MC_DOCKER_NPROC);
    assert_int_equal(json_integer_value(json_object_get(u, "Hard")), MC_DOCKER_NPROC);
    u = json_array_get(json_object_get(h, "Ulimits"), 1);
    assert_string_equal(json_string_value(json_object_get(u, "Name")), "nofile");
    assert_int_equal(json_integer_value(json_object_get(u, "Soft")), MC_DOCKER_NOFILE);
    json_t *m = json_array_get(json_object_get(h, "Mounts"), 0);
    assert_string_equal(json_string_value(json_object_get(m, "Type")), "volume");
    assert_string_equal(json_string_value(json_object_get(m, "Source")), "stream-1-cache");
    assert_int_equal(json_integer_value(json_object_get(b, "StopTimeout")), 30);
    assert_null(json_object_get(b, "Cmd"));
    json_decref(b);
}

static void create_body_refuses_bad_specs_naming_the_field(void **state) {
    (void)state;
    mc_err err = {0};
    mc_docker_spec none = {0};
    assert_null(mc_docker_create_body(&none, &err));
    assert_non_null(strstr(err.msg, "image"));
    mc_docker_kv env[] = {{"BAD=NAME", "x"}};
    mc_docker_spec bad_env = {.image = "x", .env = env, .nenv = 1};
    assert_null(mc_docker_create_body(&bad_env, &err));
    assert_non_null(strstr(err.msg, "env[0]"));
    mc_docker_volume vols[] = {{"v", "relative"}};
    mc_docker_spec bad_vol = {.image = "x", .volumes = vols, .nvolumes = 1};
    assert_null(mc_docker_create_body(&bad_vol, &err));
    assert_non_null(strstr(err.msg, "volumes[0]"));
    mc_docker_spec neg = {.image = "x", .memory_bytes = -1};
    assert_null(mc_docker_create_body(&neg, &err));
    assert_int_equal(err.kind, MC_ERR_INVALID);
}

static void create_body_with_a_command(void **state) {
    (void)state;
    const char *cmd[] = {"sleep", "infinity", NULL};
    mc_docker_spec spec = {.image = "x", .cmd = cmd};
    mc_err err = {0};
    json_t *b = mc_docker_create_body(&spec, &err);
    assert_non_null(b);
    assert_int_equal(json_array_size(json_object_get(b, "Cmd")), 2);
    assert_null(json_object_get(json_object_get(b, "HostConfig"), "PidsLimit"));
    json_decref(b);
}

static void label_filter_is_url_encoded_json(void **state) {
    (void)state;
    const char *labels[] = {"mcloud.node=node-1", "mcloud.managed"};
    char *f = mc_docker_label_filter(labels, 2);
    assert_non_null(f);
    assert_string_equal(f, "%7B%22label%22%3A%5B%22mcloud.node%3Dnode-1%22%2C%22mcloud.managed%22%5D%7D");
    free(f);
}

static void inspect_is_parsed(void **state) {
    (void)state;
    const char *body =
        "{\"Id\":\"abc123\",\"Name\":\"/mcloud-node-1-stream-0\",\"State\":{\"Status\":\"running\","
        "\"Running\":true,\"Pid\":4242,\"ExitCode\":0,\"StartedAt\":\"2026-12-06T03:00:00Z\","
        "\"FinishedAt\":\"0001-01-01T00:00:00Z\"},\"Config\":{\"Image\":\"localhost/mcloud-stream\","
        "\"Labels\":{\"mcloud.instance\":\"stream-0\"}}}";
    mc_docker_container c;
    mc_err err = {0};
    assert_int_equal(mc_docker_parse_inspect(body, strlen(body), &c, &err), 0);
    assert_string_equal(c.id, "abc123");
    assert_string_equal(c.name, "mcloud-node-1-stream-0");
    assert_string_equal(c.state, "running");
    assert_true(c.running);
    assert_int_equal(c.pid, 4242);
    assert_string_equal(c.started_at, "2026-12-06T03:00:00Z");
    assert_string_equal(json_string_value(json_object_get(c.labels, "mcloud.instance")), "stream-0");
    mc_docker_container_clear(&c);
}

static void inspect_rejects_garbage(void **state) {
    (void)state;
    mc_docker_container c;
    mc_err err = {0};
    const char *bad[] = {"", "[]", "{\"Id\":1}", "{\"Id\":\"x\"}", "{not json"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(mc_docker_parse_inspect(bad[i], strlen(bad[i]), &c, &err), -1);
        mc_docker_container_clear(&c);
    }
}

static void list_is_parsed_and_skips_bad_entries(void **state) {
    (void)state;
    const char *body = "[{\"Id\":\"a1\",\"Names\":[\"/one\"],\"State\":\"running\",\"Labels\":{\"k\":\"v\"}},"
                       "42,{\"Names\":[\"/noid\"]},"
                       "{\"Id\":\"b2\",\"Names\":[\"two\"],\"State\":\"exited\"}]";
    mc_docker_container *list;
    size_t n;
    mc_err err = {0};
    assert_int_equal(mc_docker_parse_list(body, strlen(body), &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "one");
    assert_true(list[0].running);
    assert_string_equal(list[1].name, "two");
    assert_false(list[1].running);
    assert_non_null(list[1].labels);
    mc_docker_containers_free(list, n);
    assert_int_equal(mc_docker_parse_list("{}", 2, &list, &n, &err), -1);
}

static void events_are_parsed_both_shapes(void **state) {
    (void)state;
    const char *modern = "{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"c0ffee\","
                         "\"Attributes\":{\"name\":\"web\",\"exitCode\":\"137\"}},\"time\":1765000000}";
    mc_docker_event ev;
    mc_err err = {0};
    assert_int_equal(mc_docker_parse_event(modern, strlen(modern), &ev, &err), 0);
    assert_string_equal(ev.action, "die");
    assert_string_equal(ev.id, "c0ffee");
    assert_string_equal(ev.name, "web");
    assert_int_equal(ev.exit_code, 137);
    assert_int_equal(ev.time, 1765000000);
    const char *legacy = "{\"status\":\"start\",\"id\":\"f00d\",\"Type\":\"container\"}";
    assert_int_equal(mc_docker_parse_event(legacy, strlen(legacy), &ev, &err), 0);
    assert_string_equal(ev.action, "start");
    assert_string_equal(ev.id, "f00d");
    assert_int_equal(ev.exit_code, -1);
    assert_int_equal(mc_docker_parse_event("{}", 2, &ev, &err), -1);
}

static void logs_are_demultiplexed(void **state) {
    (void)state;
    const unsigned char framed[] = {1, 0, 0, 0, 0, 0, 0, 6, 'h', 'e', 'l', 'l', 'o', '\n',
                                    2, 0, 0, 0, 0, 0, 0, 4, 'e', 'r', 'r', '\n'};
    char out[64];
    assert_int_equal(mc_docker_demux_logs(framed, sizeof framed, out, sizeof out), 10);
    assert_string_equal(out, "hello\nerr\n");
    /* truncated frame: what arrived is kept; small output: cut, terminated */
    assert_int_equal(mc_docker_demux_logs(framed, 11, out, sizeof out), 3);
    assert_string_equal(out, "hel");
    assert_int_equal(mc_docker_demux_logs(framed, sizeof framed, out, 4), 3);
    assert_string_equal(out, "hel");
    const unsigned char raw[] = "plain text\n";
    assert_int_equal(mc_docker_demux_logs(raw, sizeof raw - 1, out, sizeof out), 11);
    assert_string_equal(out, "plain text\n");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(create_body_carries_limits_labels_env_and_host_network),
        cmocka_unit_test(create_body_refuses_bad_specs_naming_the_field),
        cmocka_unit_test(create_body_with_a_command),
        cmocka_unit_test(label_filter_is_url_encoded_json),
        cmocka_unit_test(inspect_is_parsed),
        cmocka_unit_test(inspect_rejects_garbage),
        cmocka_unit_test(list_is_parsed_and_skips_bad_entries),
        cmocka_unit_test(events_are_parsed_both_shapes),
        cmocka_unit_test(logs_are_demultiplexed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
