/* The orchestrator's spec (orchestrator/spec.h): deploy/mcloud.yaml parses
 * with its defaults; every broken spec is refused as a whole with a
 * message naming the field path and the line; the canonical form parses
 * back to the same spec; the diff names each change. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "orchestrator/spec.h"

static const char *const known[] = {"localhost/mcloud-upload", "localhost/mcloud-transcode",
                                    "localhost/mcloud-stream", "localhost/mcloud-api", NULL};
static const mc_spec_check check = {.known_images = known};

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void test_the_shipped_spec_parses(void **state) {
    (void)state;
    size_t len;
    char *text = read_file(MCLOUD_SOURCE_DIR "/deploy/mcloud.yaml", &len);
    mc_spec *spec = malloc(sizeof *spec);
    mc_spec_errors errs;
    int rc = mc_spec_parse(text, len, &check, spec, &errs);
    if (rc) fprintf(stderr, "%s\n", errs.msg[0]);
    assert_int_equal(rc, 0);
    assert_int_equal(spec->service_count, 4);
    const mc_spec_service *s = mc_spec_find(spec, "stream");
    assert_non_null(s);
    assert_int_equal(s->count, 2);
    assert_int_equal(s->memory_bytes, 256 << 20);
    assert_int_equal(s->public_port, 18081);
    assert_string_equal(s->port_env, "MCLOUD_STREAM_PORT");
    assert_string_equal(s->volume_target, "/var/cache/mcloud");
    assert_int_equal(s->stop_grace_ms, 30000);
    assert_int_equal(mc_spec_instance_port(spec, mc_spec_service_position(spec, "stream"), 1, 0), 18601);
    assert_int_equal(mc_spec_instance_port(spec, mc_spec_service_position(spec, "stream"), 1, 1), 18651);
    const mc_spec_service *t = mc_spec_find(spec, "transcode");
    assert_int_equal(t->memory_bytes, 1 << 30);
    assert_int_equal(t->stop_grace_ms, 120000);
    assert_true(t->auto_revert); /* default */
    assert_int_equal(t->health_failures, 3);
    free(spec);
    free(text);
}

static void test_defaults_and_port_env(void **state) {
    (void)state;
    const char *y = "services:\n  my-svc:\n    image: localhost/mcloud-stream:1\n";
    mc_spec spec;
    mc_spec_errors errs;
    assert_int_equal(mc_spec_parse(y, strlen(y), NULL, &spec, &errs), 0);
    const mc_spec_service *s = &spec.services[0];
    assert_string_equal(s->port_env, "MCLOUD_MY_SVC_PORT");
    assert_int_equal(s->count, 1);
    assert_int_equal(s->restart_delay_ms, 500);
    assert_int_equal(s->restart_max_delay_ms, 30000);
    assert_int_equal(s->max_parallel, 1);
    assert_int_equal(s->healthy_deadline_ms, 300000);
}

struct broken {
    const char *why;
    const char *yaml;
    const char *message; /* a substring of the first error */
};

#define HEAD "version: 1\nservices:\n"
#define IMG "    image: localhost/mcloud-transcode:latest\n"

static const struct broken broken[] = {
    {"unknown field", HEAD "  transcode:\n" IMG "    replicas: 2\n", "services.transcode.replicas: unknown field (line 5)"},
    {"unknown top field", "version: 1\nfoo: 1\nservices:\n  t:\n" IMG, "foo: unknown field (line 2)"},
    {"bad size", HEAD "  transcode:\n" IMG "    resources:\n      cpus: 1\n      memory: 2 GB\n",
     "services.transcode.resources.memory: \"2 GB\" is not a size (e.g. 512M, 2G) (line 7)"},
    {"negative count", HEAD "  transcode:\n" IMG "    count: -1\n",
     "services.transcode.count: \"-1\" is not a whole number between 0 and 49 (line 5)"},
    {"port clash", HEAD "  a:\n" IMG "    ports: {public: 8080}\n  b:\n" IMG "    ports: {public: 8080}\n",
     "services.b.ports.public: 8080 is already the public port of services.a (line 7)"},
    {"unknown image", HEAD "  t:\n    image: docker.io/library/nginx:latest\n",
     "services.t.image: \"docker.io/library/nginx:latest\" is not a known image (line 4)"},
    {"duplicate service", HEAD "  t:\n" IMG "  t:\n" IMG, "services.t: declared twice (line 5)"},
    {"YAML syntax error", HEAD "  t:\n" IMG "    count: [1, 2\n", "YAML: "},
    {"bad duration", HEAD "  t:\n" IMG "    stop_grace: 30 seconds\n",
     "services.t.stop_grace: \"30 seconds\" is not a duration (e.g. 500ms, 10s, 5m) (line 5)"},
    {"missing image", HEAD "  t:\n    count: 1\n", "services.t.image: missing (line 4)"},
    {"services not a mapping", "version: 1\nservices: [a, b]\n", "services: expected a mapping"},
    {"no services", "version: 1\n", "services: missing"},
    {"wrong version", "version: 2\nservices:\n  t:\n" IMG, "version: \"2\" is not a whole number between 1 and 1 (line 1)"},
    {"bad bool", HEAD "  t:\n" IMG "    update: {auto_revert: yes}\n", "services.t.update.auto_revert: \"yes\" is not true or false (line 5)"},
    {"bad cpus", HEAD "  t:\n" IMG "    resources: {cpus: lots}\n", "services.t.resources.cpus: \"lots\" is not a number of CPUs"},
    {"bad service name", HEAD "  Transcode:\n" IMG, "services.Transcode: \"Transcode\" is not a service name"},
    {"bad env name", HEAD "  t:\n" IMG "    env: {lower: x}\n", "services.t.env.lower: \"lower\" is not a valid environment variable name (line 5)"},
    {"env overrides the port", HEAD "  t:\n" IMG "    env: {MCLOUD_T_PORT: '1'}\n", "services.t.env.MCLOUD_T_PORT: set by the orchestrator"},
    {"env not a string", HEAD "  t:\n" IMG "    env: {A: [1]}\n", "services.t.env.A: expected a single value, found a list (line 5)"},
    {"timeout above interval", HEAD "  t:\n" IMG "    health: {interval: 1s, timeout: 2s}\n", "services.t.health.timeout: must be above 0 and at most the interval"},
    {"delay above max", HEAD "  t:\n" IMG "    restart: {delay: 1m, max_delay: 10s}\n", "services.t.restart.delay: above max_delay"},
    {"deadline below min healthy", HEAD "  t:\n" IMG "    update: {min_healthy_time: 5m, healthy_deadline: 1m}\n",
     "services.t.update.healthy_deadline: must be longer than min_healthy_time"},
    {"relative volume", HEAD "  t:\n" IMG "    volume: {name: c, target: cache}\n", "services.t.volume.target: \"cache\" is not an absolute path"},
    {"volume without target", HEAD "  t:\n" IMG "    volume: {name: c}\n", "services.t.volume: needs both name and target"},
    {"port range", "version: 1\ninstance_ports: 9-8\nservices:\n  t:\n" IMG, "instance_ports: \"9-8\" is not a port range"},
    {"public port in instance range", HEAD "  t:\n" IMG "    ports: {public: 21005}\n", "services.t.ports.public: 21005 lies in instance_ports"},
    {"not a mapping at all", "- a\n- b\n", "spec: expected a mapping"},
    {"empty", "", "spec: empty"},
    {"list as a key", HEAD "  [a]: 1\n", "services: a key must be a plain name (line 3)"},
    {"tabs", HEAD "\tt:\n", "YAML: "},
    {"count above max", HEAD "  t:\n" IMG "    count: 50\n", "services.t.count: \"50\" is not a whole number between 0 and 49"},
    {"pids too low", HEAD "  t:\n" IMG "    resources: {pids: 1}\n", "services.t.resources.pids: \"1\" is not a whole number between 16"},
#define SC "    scaling:\n      topic: jobs\n      group: workers\n"
    {"scaling without max", HEAD "  t:\n" IMG SC, "services.t.scaling.max: missing (line 6)"},
    {"scaling without topic", HEAD "  t:\n" IMG "    scaling: {group: g, max: 2}\n", "services.t.scaling.topic: missing (line 5)"},
    {"scaling min above max", HEAD "  t:\n" IMG SC "      min: 3\n      max: 2\n", "services.t.scaling.min: 3 above max 2 (line 6)"},
    {"count outside the policy", HEAD "  t:\n" IMG "    count: 5\n" SC "      max: 4\n",
     "services.t.count: 5 outside scaling min-max 1-4 (line 7)"},
    {"scaling bad lag target", HEAD "  t:\n" IMG SC "      max: 2\n      lag_per_instance: 0\n",
     "services.t.scaling.lag_per_instance: \"0\" is not a whole number between 1 and 1000000000 (line 9)"},
    {"scaling bad window", HEAD "  t:\n" IMG SC "      max: 2\n      down_window: soon\n",
     "services.t.scaling.down_window: \"soon\" is not a duration (e.g. 500ms, 10s, 5m) (line 9)"},
    {"scaling unknown field", HEAD "  t:\n" IMG SC "      max: 2\n      cooldown: 1m\n",
     "services.t.scaling.cooldown: unknown field (line 9)"},
    {"scaling bad topic", HEAD "  t:\n" IMG "    scaling: {topic: 'a b', group: g, max: 2}\n",
     "services.t.scaling.topic: \"a b\" is not a Kafka topic name (line 5)"},
    {"scaling not a mapping", HEAD "  t:\n" IMG "    scaling: yes\n", "services.t.scaling: expected a mapping"},
};

static void test_broken_specs_are_refused_whole(void **state) {
    (void)state;
    assert_true(sizeof broken / sizeof broken[0] >= 15);
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        mc_spec spec;
        memset(&spec, 0x5a, sizeof spec);
        mc_spec_errors errs;
        int rc = mc_spec_parse(broken[i].yaml, strlen(broken[i].yaml), &check, &spec, &errs);
        if (rc != -1 || errs.count < 1 || !strstr(errs.msg[0], broken[i].message)) {
            fprintf(stderr, "case '%s': rc=%d, first error: '%s'\n  expected: '%s'\n", broken[i].why, rc,
                    errs.count ? errs.msg[0] : "(none)", broken[i].message);
            fail();
        }
        /* Nothing half-filled survives a refusal. */
        assert_int_equal(spec.service_count, 0);
    }
}

static void test_every_error_is_reported_at_once(void **state) {
    (void)state;
    const char *y = HEAD "  t:\n" IMG "    count: -3\n    resources: {memory: 2 GB}\n    colour: red\n";
    mc_spec spec;
    mc_spec_errors errs;
    assert_int_equal(mc_spec_parse(y, strlen(y), &check, &spec, &errs), -1);
    assert_int_equal(errs.count, 3);
    char joined[2048];
    mc_spec_errors_join(&errs, joined, sizeof joined);
    assert_non_null(strstr(joined, "services.t.count"));
    assert_non_null(strstr(joined, "services.t.resources.memory"));
    assert_non_null(strstr(joined, "services.t.colour: unknown field (line 7)"));
}

static void test_huge_mappings_are_refused_without_walking_them_all(void **state) {
    (void)state;
    /* 40,000 env entries in 256 KiB: refused after the first errors. */
    size_t cap = MC_SPEC_MAX_BYTES, len = 0;
    char *y = malloc(cap);
    len += (size_t)snprintf(y, cap, "services:\n  t:\n" IMG "    env:\n");
    for (int i = 0; len + 32 < cap; i++) len += (size_t)snprintf(y + len, cap - len, "      K%d: v\n", i);
    mc_spec spec;
    mc_spec_errors errs;
    assert_int_equal(mc_spec_parse(y, len, &check, &spec, &errs), -1);
    assert_non_null(strstr(errs.msg[0], "services.t.env.K32: more than 32 entries (line"));
    assert_true(errs.count <= MC_SPEC_MAX_ERRORS + 1);
    free(y);
}

static void test_sizes_and_durations(void **state) {
    (void)state;
    assert_int_equal(mc_spec_parse_size("512M"), 512ll << 20);
    assert_int_equal(mc_spec_parse_size("2G"), 2ll << 30);
    assert_int_equal(mc_spec_parse_size("2Gi"), 2ll << 30);
    assert_int_equal(mc_spec_parse_size("1024"), 1024);
    assert_int_equal(mc_spec_parse_size("2 GB"), -1);
    assert_int_equal(mc_spec_parse_size("-1M"), -1);
    assert_int_equal(mc_spec_parse_size("1X"), -1);
    assert_int_equal(mc_spec_parse_size("99999999999999999999"), -1);
    assert_int_equal(mc_spec_parse_size("9999999999T"), -1);
    assert_int_equal(mc_spec_parse_duration_ms("500ms"), 500);
    assert_int_equal(mc_spec_parse_duration_ms("10s"), 10000);
    assert_int_equal(mc_spec_parse_duration_ms("5m"), 300000);
    assert_int_equal(mc_spec_parse_duration_ms("1h"), 3600000);
    assert_int_equal(mc_spec_parse_duration_ms("10"), -1);
    assert_int_equal(mc_spec_parse_duration_ms("1d"), -1);
    assert_int_equal(mc_spec_parse_duration_ms("100000h"), -1);
}

static void test_canonical_form_round_trips(void **state) {
    (void)state;
    size_t len;
    char *text = read_file(MCLOUD_SOURCE_DIR "/deploy/mcloud.yaml", &len);
    mc_spec *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    mc_spec_errors errs;
    assert_int_equal(mc_spec_parse(text, len, &check, a, &errs), 0);
    /* odd values survive too */
    snprintf(a->services[0].env[0].key, 64, "QUOTE");
    snprintf(a->services[0].env[0].value, 64, "a \"b\" \\ c: d\t#e");
    a->services[0].env_count = 1;
    a->services[0].constraint_count = 1;
    snprintf(a->services[0].constraints[0].key, 64, "disk");
    snprintf(a->services[0].constraints[0].value, 64, "ssd");
    char *canon = mc_spec_format(a);
    assert_non_null(canon);
    if (mc_spec_parse(canon, strlen(canon), &check, b, &errs)) fprintf(stderr, "%s\n%s\n", canon, errs.msg[0]);
    assert_int_equal(mc_spec_parse(canon, strlen(canon), &check, b, &errs), 0);
    char *diff = mc_spec_diff(a, b);
    assert_string_equal(diff, "");
    char *again = mc_spec_format(b);
    assert_string_equal(canon, again);
    free(diff);
    free(again);
    free(canon);
    free(a);
    free(b);
    free(text);
}

static void test_diff_names_each_change(void **state) {
    (void)state;
    const char *y1 = HEAD "  t:\n" IMG "    count: 2\n  gone:\n" IMG;
    const char *y2 = HEAD "  t:\n    image: localhost/mcloud-transcode:v2\n    count: 4\n    env: {A: b}\n  new:\n" IMG;
    mc_spec a, b;
    mc_spec_errors errs;
    assert_int_equal(mc_spec_parse(y1, strlen(y1), &check, &a, &errs), 0);
    assert_int_equal(mc_spec_parse(y2, strlen(y2), &check, &b, &errs), 0);
    char *d = mc_spec_diff(&a, &b);
    assert_non_null(strstr(d, "- service gone (1 instances)\n"));
    assert_non_null(strstr(d, "+ service new (1 x localhost/mcloud-transcode:latest)\n"));
    assert_non_null(strstr(d, "~ t.image: localhost/mcloud-transcode:latest -> localhost/mcloud-transcode:v2\n"));
    assert_non_null(strstr(d, "~ t.count: 2 -> 4\n"));
    assert_non_null(strstr(d, "+ t.env.A: b\n"));
    free(d);
    d = mc_spec_diff(NULL, &a);
    assert_non_null(strstr(d, "+ service t (2 x"));
    free(d);
    /* A scale keeps the template: nothing restarts. */
    mc_spec c = a;
    c.services[0].count = 7;
    assert_true(mc_spec_same_template(&a.services[0], &c.services[0]));
    assert_false(mc_spec_same_template(&a.services[0], &b.services[0]));
}

static int six_partitions(void *ctx, const char *topic) {
    (void)ctx;
    return strcmp(topic, "mcloud.transcode.jobs") == 0 ? 6 : -1;
}

static void test_scaling_policy(void **state) {
    (void)state;
    const mc_spec_check with_kafka = {known, six_partitions, NULL};
    const char *y = HEAD "  t:\n" IMG "    scaling: {topic: mcloud.transcode.jobs, group: mcloud-transcode, max: 6}\n";
    mc_spec spec, again;
    mc_spec_errors errs;
    assert_int_equal(mc_spec_parse(y, strlen(y), &with_kafka, &spec, &errs), 0);
    const mc_spec_scaling *c = &spec.services[0].scaling;
    assert_true(c->enabled);
    assert_int_equal(c->min, 1); /* the defaults */
    assert_int_equal(c->max, 6);
    assert_int_equal(c->lag_per_instance, 10);
    assert_int_equal(c->interval_ms, 5000);
    assert_int_equal(c->up_window_ms, 0);
    assert_int_equal(c->down_window_ms, 60000);
    /* max above the partitions: refused naming both numbers */
    const char *y7 = HEAD "  t:\n" IMG "    scaling: {topic: mcloud.transcode.jobs, group: mcloud-transcode, max: 7}\n";
    assert_int_equal(mc_spec_parse(y7, strlen(y7), &with_kafka, &spec, &errs), -1);
    assert_non_null(strstr(errs.msg[0], "services.t.scaling.max: 7 is above the 6 partitions of topic mcloud.transcode.jobs"));
    assert_non_null(strstr(errs.msg[0], "mcloud kafka partitions mcloud.transcode.jobs N"));
    assert_non_null(strstr(errs.msg[0], "(line 5)"));
    /* a topic whose partitions are unknown is not checked here */
    const char *yo = HEAD "  t:\n" IMG "    scaling: {topic: other, group: g, max: 40}\n";
    assert_int_equal(mc_spec_parse(yo, strlen(yo), &with_kafka, &spec, &errs), 0);
    /* the policy round-trips, shows in the diff and restarts nothing */
    assert_int_equal(mc_spec_parse(y, strlen(y), &with_kafka, &spec, &errs), 0);
    char *canon = mc_spec_format(&spec);
    assert_non_null(strstr(canon, "scaling: {topic: \"mcloud.transcode.jobs\""));
    assert_int_equal(mc_spec_parse(canon, strlen(canon), &with_kafka, &again, &errs), 0);
    char *d = mc_spec_diff(&spec, &again);
    assert_string_equal(d, "");
    free(d);
    again.services[0].scaling.max = 4;
    d = mc_spec_diff(&spec, &again);
    assert_non_null(strstr(d, "~ t.scaling.max: 6 -> 4\n"));
    free(d);
    assert_true(mc_spec_same_template(&spec.services[0], &again.services[0]));
    free(canon);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scaling_policy),
        cmocka_unit_test(test_the_shipped_spec_parses),
        cmocka_unit_test(test_defaults_and_port_env),
        cmocka_unit_test(test_broken_specs_are_refused_whole),
        cmocka_unit_test(test_every_error_is_reported_at_once),
        cmocka_unit_test(test_huge_mappings_are_refused_without_walking_them_all),
        cmocka_unit_test(test_sizes_and_durations),
        cmocka_unit_test(test_canonical_form_round_trips),
        cmocka_unit_test(test_diff_names_each_change),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
