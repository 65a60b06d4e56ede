/* The Prometheus file_sd target list (orchestrator/targets.h): one target
 * per reported instance at its node's host and its port, labelled service,
 * instance and node, in a stable order; an instance without a port or on an
 * unknown node is left out; an empty cluster is an empty list. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "orchestrator/targets.h"

static void report(mc_report *r, const char *name, const char *service, const char *node, int port) {
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->service, sizeof r->service, "%s", service);
    snprintf(r->node, sizeof r->node, "%s", node);
    r->port = port;
}

static void test_targets(void **state) {
    (void)state;
    mc_node nodes[2];
    memset(nodes, 0, sizeof nodes);
    snprintf(nodes[0].name, sizeof nodes[0].name, "a");
    snprintf(nodes[0].agent_url, sizeof nodes[0].agent_url, "http://10.0.0.5:18090");
    snprintf(nodes[1].name, sizeof nodes[1].name, "b");
    snprintf(nodes[1].agent_url, sizeof nodes[1].agent_url, "http://node-b:18090/");
    mc_report r[4];
    report(&r[0], "upload-1", "upload", "b", 18451);
    report(&r[1], "stream-0", "stream", "a", 18400);
    report(&r[2], "upload-0", "upload", "gone", 18450); /* its node is not known */
    report(&r[3], "api-0", "api", "a", 0);              /* no port yet */
    char *text = mc_targets_file_sd(nodes, 2, r, 4);
    assert_non_null(text);
    json_t *j = json_loads(text, 0, NULL);
    assert_int_equal(json_array_size(j), 2);
    json_t *first = json_array_get(j, 0), *second = json_array_get(j, 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(first, "targets"), 0)), "10.0.0.5:18400");
    json_t *labels = json_object_get(first, "labels");
    assert_string_equal(json_string_value(json_object_get(labels, "service")), "stream");
    assert_string_equal(json_string_value(json_object_get(labels, "instance")), "stream-0");
    assert_string_equal(json_string_value(json_object_get(labels, "node")), "a");
    assert_string_equal(json_string_value(json_array_get(json_object_get(second, "targets"), 0)), "node-b:18451");
    json_decref(j);
    /* the same cluster in another order: the same text (written only on a change) */
    mc_report swapped[4] = {r[3], r[2], r[1], r[0]};
    char *again = mc_targets_file_sd(nodes, 2, swapped, 4);
    assert_string_equal(text, again);
    free(again);
    free(text);
    text = mc_targets_file_sd(nodes, 2, r, 0);
    assert_string_equal(text, "[]");
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_targets)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
