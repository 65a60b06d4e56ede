/* targets.c — the Prometheus file_sd target list (see targets.h). */
#include "orchestrator/targets.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The host part of "http://HOST:PORT/..." into out. */
static void url_host(const char *url, char *out, size_t cap) {
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, ":/");
    if (*p == '[') n = strcspn(p, "]") + 1; /* [v6] */
    snprintf(out, cap, "%.*s", (int)n, p);
}

static int by_name(const void *a, const void *b) {
    const mc_report *x = *(const mc_report *const *)a, *y = *(const mc_report *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->node, y->node);
}

char *mc_targets_file_sd(const mc_node *nodes, int nnodes, const mc_report *reports, int nreports) {
    const mc_report **order = malloc((nreports > 0 ? (size_t)nreports : 1) * sizeof *order);
    json_t *list = json_array();
    if (!order || !list) {
        free(order);
        json_decref(list);
        return NULL;
    }
    for (int i = 0; i < nreports; i++) order[i] = &reports[i];
    qsort(order, (size_t)nreports, sizeof *order, by_name);
    for (int i = 0; i < nreports; i++) {
        const mc_report *r = order[i];
        const mc_node *node = mc_node_find(nodes, nnodes, r->node);
        if (!node || r->port <= 0) continue;
        char host[300], target[320];
        url_host(node->agent_url, host, sizeof host);
        snprintf(target, sizeof target, "%s:%d", host, r->port);
        json_array_append_new(list, json_pack("{s:[s], s:{s:s, s:s, s:s}}", "targets", target, "labels", "service",
                                              r->service, "instance", r->name, "node", r->node));
    }
    free(order);
    char *text = json_dumps(list, JSON_INDENT(1));
    json_decref(list);
    return text;
}
