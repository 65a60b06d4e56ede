/* wire.h — the orchestrator's JSON on the wire, as pure functions: the
 * node heartbeat agents write to Redis (mcloud:node:<node>), the order body
 * sent to an agent (PUT /v1/instances/<name>), and the operator API's
 * request bodies. The contract is docs/ARCHITECTURE.md ("Orchestrator <->
 * agent contract"). Everything here faces other processes or operators, so
 * it refuses bad input with a message naming the field and never trusts a
 * length; tests/fuzz/fuzz_orch_api.c drives it. */
#ifndef MCLOUD_ORCH_WIRE_H
#define MCLOUD_ORCH_WIRE_H

#include <jansson.h>

#include "common/error.h"
#include "orchestrator/plan.h"

#define MC_HEARTBEAT_MAX_INSTANCES 256

/* Parses one heartbeat into node (alive set) and up to max reports (each
 * tagged with the node's name). MC_ERR_INVALID naming the field. */
int mc_heartbeat_parse(const char *buf, size_t len, mc_node *node, mc_report *reports, int max, int *nreports,
                       mc_err *err);

/* The PUT /v1/instances/<name> body for instance `index` of service s (as
 * spec version `version` defines it) listening on port. */
json_t *mc_order_body(const mc_spec_service *s, int port, int index, int64_t version);

/* The desired spec's public ports, for the edge:
 * {"v":1,"ports":{"<service>":<port>,...}} (services without one left out),
 * which the active orchestrator keeps at <key_prefix>:orch:public_ports.
 * Caller frees. */
char *mc_public_ports_json(const mc_spec *spec);

/* Operator bodies: {"count": N} and {"drain": true|false}. */
int mc_api_parse_scale(const char *buf, size_t len, int *count, mc_err *err);
/* A scale body changing an autoscaled service's bounds, {"min": A, "max": B}
 * (either may be left out: -1): 1 when it is one, 0 when the body names
 * neither (a {"count": N} body), -1 with err when malformed. */
int mc_api_parse_scale_bounds(const char *buf, size_t len, int *min, int *max, mc_err *err);
int mc_api_parse_drain(const char *buf, size_t len, bool *drain, mc_err *err);
/* Node and service names as they may appear in a URL path. */
bool mc_api_name_valid(const char *s);

#endif
