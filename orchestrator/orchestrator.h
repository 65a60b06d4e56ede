/* orchestrator.h — mcloud-orchestrator, the control plane: the state the
 * daemon's files share. loop.c owns leadership and the reconcile rounds
 * (their decisions are decide.c's, in the core library), scaler.c the
 * autoscaler, versions.c the spec versions in MySQL, agents.c the orders
 * to agents, api.c the operator HTTP API, main.c start-up. */
#ifndef MCLOUD_ORCHESTRATOR_H
#define MCLOUD_ORCHESTRATOR_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/lock.h"
#include "common/periodic.h"
#include "common/service.h"
#include "common/token.h"
#include "orchestrator/decide.h"
#include "orchestrator/plan.h"
#include "orchestrator/spec.h"

#define MC_ORCH_MAX_NODES 32
#define MC_ORCH_MAX_WANTS MC_DECIDE_MAX_WANTS
#define MC_ORCH_MAX_REPORTS (MC_ORCH_MAX_NODES * 64)
#define MC_ORCH_HISTORY 100

typedef struct mc_orch_view {        /* the last round's picture, for the API */
    mc_node nodes[MC_ORCH_MAX_NODES];
    int nnodes;
    mc_report reports[MC_ORCH_MAX_REPORTS];
    int nreports;
    mc_want wants[MC_ORCH_MAX_WANTS];
    int nwants;
} mc_orch_view;

typedef struct mc_orch_version {
    int64_t version;
    mc_spec *spec;                   /* malloc'd */
} mc_orch_version;

typedef struct mc_orch {
    mc_service svc;
    long interval_ms, lock_ttl_ms, order_timeout_ms, node_grace_ms;
    char lock_name[64];
    char key_prefix[64];
    char drain_key[96];              /* <prefix>:orch:draining, a set of node names */
    char promoted_key[96];           /* <prefix>:orch:promoted: + service -> the version promoted */
    char node_pattern[96];           /* <prefix>:node:* heartbeats */
    char images_buf[1024];
    const char *images[32];
    mc_spec_check check;
    char token_key_id[MC_TOKEN_NAME_MAX + 1], token_secret[256];
    mc_token_key token_key;
    mc_periodic *loop;
    mc_periodic *lease; /* extends the lock while active (loop.c) */
    mc_periodic *scaler; /* the autoscaler (scaler.c) */

    pthread_mutex_t mu;              /* guards everything below */
    bool active;
    mc_lock lock;
    int64_t version;                 /* latest spec version applied (0: none) */
    mc_spec *spec;                   /* its spec */
    mc_decide_state decide;          /* rollouts, where instances were ordered */
    mc_orch_version *history;        /* the versions loaded with spec, newest first */
    int nhistory;
    mc_orch_view *view;
    int64_t orders_sent, orders_refused;
    double follow_until;             /* rounds every FOLLOW_MS until then while a change settles (loop.c) */
    char sd_file[512];               /* orchestrator.prometheus_sd_file ("": none; scrape.c) */
    char *sd_text;                   /* what was last written there (the loop thread only) */
    char *ports_text;                /* the public ports last published for the edge (loop.c; the loop thread only) */
    double ports_at;                 /* when */
} mc_orch;

/* versions.c */
/* The latest MC_ORCH_HISTORY versions, newest first; *n of them. */
int mc_orch_history(mc_orch *o, mc_orch_version **out, int *n, mc_err *err);
void mc_orch_history_free(mc_orch_version *v, int n);
int64_t mc_orch_latest_version(mc_orch *o, mc_err *err);
/* Stores spec as a new version unless it equals the latest (then *version is
 * the latest and *diff ""). dry_run: only the diff. */
int mc_orch_apply(mc_orch *o, const mc_spec *spec, const char *who, const char *reason, bool dry_run,
                  int64_t *version, char **diff, mc_err *err);
/* Applies fn's change to a copy of the latest spec (scale, undo, revert). */
typedef int (*mc_orch_edit)(mc_orch *o, mc_spec *spec, const mc_orch_version *history, int nhistory, void *ctx,
                            mc_err *err);
int mc_orch_edit_latest(mc_orch *o, mc_orch_edit fn, void *ctx, const char *who, const char *reason,
                        int64_t *version, char **diff, mc_err *err);
json_t *mc_orch_versions_json(mc_orch *o, int limit, mc_err *err);

/* agents.c: one order; *status is the agent's HTTP status (0: no answer). */
int mc_orch_agent_call(mc_orch *o, const char *method, const char *base_url, const char *path, int64_t fence,
                       const char *body, long *status, char **answer, mc_err *err);

/* One call of a batch: the request in, the outcome of mc_orch_agent_call out
 * (rc, status, answer: the caller frees it, err). */
typedef struct mc_agent_call {
    const char *method, *base_url, *path, *body;
    int64_t fence;
    int rc;
    long status;
    char *answer;
    mc_err err;
} mc_agent_call;

/* A round's orders at once: every call of calls in parallel (a thread each,
 * at most MC_ORCH_CALLS_PARALLEL at a time); returns when all have
 * answered or timed out. */
#define MC_ORCH_CALLS_PARALLEL 16
void mc_orch_agent_calls(mc_orch *o, mc_agent_call *calls, int n);

/* loop.c */
int mc_orch_loop_start(mc_orch *o, mc_err *err);
void mc_orch_loop_stop(mc_orch *o);
void mc_orch_nudge(mc_orch *o);

/* scaler.c: the autoscaler; start also lets the spec check read topics'
 * partition counts from Kafka. */
int mc_orch_scaler_start(mc_orch *o, mc_err *err);
void mc_orch_scaler_stop(mc_orch *o);
/* The partition count of topic, -1 when unknown (mc_spec_check's callback). */
int mc_orch_topic_partitions(void *ctx, const char *topic);
/* GET /v1/autoscale: each policy, its last evaluation and decisions. */
json_t *mc_orch_autoscale_json(mc_orch *o, mc_err *err);
/* loop.c: true when the same order key went out within the last seconds
 * (it is then not sent again); else remembers it. */
bool mc_orch_recently_sent(const char *key, double now);

/* resize.c: live resource limits (`mcloud resources`, orchestrator/limits.h) */
/* The definition service's instances at template `version` are created
 * from, with the newest limits recorded for that template; into out. */
const mc_spec_service *mc_orch_definition(const mc_orch *o, const char *service, int64_t version,
                                          mc_spec_service *out);
/* Each reported instance whose agent holds other limits than its template's
 * newest gets them (PUT /v1/instances/<name>/resources). The loop thread. */
void mc_orch_limits_round(mc_orch *o, const mc_orch_view *v, int64_t fence, double now);
/* POST /v1/services/<service>/resources: checks, records; *out the answer. */
int mc_orch_resize(mc_orch *o, const char *service, const char *body, size_t len, const char *who, json_t **out,
                   mc_err *err);

/* scrape.c: the Prometheus file_sd target list of v's instances, written
 * to o->sd_file when it changed. The loop thread. */
void mc_orch_targets_write(mc_orch *o, const mc_orch_view *v);

/* api.c */
int mc_orch_api_routes(mc_orch *o, mc_err *err);

#endif
