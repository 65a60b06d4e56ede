/* edge.h — the edge's pure logic (library mcloud_edge_core): which
 * addresses may become nginx upstream servers, the backends an agent's
 * node heartbeat offers, and the whole nginx.conf rendered from the
 * settings and the ready backends of each public service.
 *
 * Everything that reaches the configuration comes from other processes
 * (registry entries, heartbeats), so an address is refused unless it is a
 * plain host:port of letters, digits, '.', '-', ':' and brackets: nothing
 * from Redis can inject an nginx directive. tests/unit/test_edge.c and
 * tests/fuzz/fuzz_edge.c drive it; edge/main.c is the daemon. */
#ifndef MCLOUD_EDGE_H
#define MCLOUD_EDGE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define MC_EDGE_ADDR_MAX 80      /* "host:port" */
#define MC_EDGE_MAX_BACKENDS 64  /* per service */
#define MC_EDGE_PATH_MAX 400

typedef struct mc_edge_service {
    char name[16];               /* upload, stream, api: the registry's service name */
    int http_port, https_port;   /* 0: not served on that scheme */
    int n;                       /* ready backends, sorted, unique */
    char backends[MC_EDGE_MAX_BACKENDS][MC_EDGE_ADDR_MAX];
} mc_edge_service;

typedef struct mc_edge_conf {
    char dir[MC_EDGE_PATH_MAX];  /* nginx's prefix: conf, pid, logs, temp, sockets */
    char bind[64];               /* the address the public ports listen on */
    char user[64], group[64];    /* workers' user when nginx starts as root ("" otherwise) */
    char cert[MC_EDGE_PATH_MAX], key[MC_EDGE_PATH_MAX]; /* "" : no HTTPS */
    int nservices;
    mc_edge_service services[4];
} mc_edge_conf;

/* "http://host:port[/...]" (a registry entry) -> "host:port"; a bare
 * "host:port" too. MC_ERR_INVALID for anything else (no port, userinfo,
 * characters outside [A-Za-z0-9.:-] and the brackets of an IPv6 host). */
int mc_edge_backend_from_url(const char *url, char *out, size_t cap, mc_err *err);

/* Adds to svcs[0..nsvcs) the backends a node heartbeat (the agent
 * contract's JSON, parsed once) offers for each: instances in state
 * running, healthy and ready, at the agent URL's host and the instance's
 * port (mc_edge_backend_add: a full list takes no more). A heartbeat that
 * fails to parse, or names one unusable address, adds nothing. */
int mc_edge_backends_from_heartbeat(const char *json, size_t len, mc_edge_service *svcs, int nsvcs, mc_err *err);

/* Sorts and removes duplicates (a stable text whatever the listing order). */
void mc_edge_backends_normalize(mc_edge_service *s);

/* Adds addr unless present; false when the list is full. */
bool mc_edge_backend_add(mc_edge_service *s, const char *addr);

/* The whole nginx.conf (malloc'd) or NULL (out of memory). */
char *mc_edge_render(const mc_edge_conf *c);

#endif
