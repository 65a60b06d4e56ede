/* agent.h — the node agent's state, shared by its HTTP API (api.c) and its
 * supervisor (supervise.c). The API only records what the orchestrator wants
 * (under the lock) and nudges the supervisor; the supervisor alone talks to
 * the container engine: health-checks, restarts with backoff, stops, and
 * heartbeats the node into Redis; it hands each container create+start to a
 * starter thread of its own that works off the lock (a create on vfs
 * storage takes seconds; several run in parallel, as the engine allows).
 * A new instance's starter is started by its order itself (the API). */
#ifndef MCLOUD_AGENT_H
#define MCLOUD_AGENT_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/backoff.h"
#include "common/docker.h"
#include "common/periodic.h"
#include "common/service.h"
#include "orchestrator/agent/cgroup.h"
#include "orchestrator/agent/order.h"

#define MC_AGENT_MAX_INSTANCES 64
#define MC_AGENT_SCHEDULE_MAX 32

typedef struct mc_agent_instance {
    bool used;
    mc_agent_order order;
    char *order_json;                 /* the body as accepted (kept in the state dir) */
    char container_id[MC_DOCKER_ID_MAX];
    char state[16];                   /* starting|running|unhealthy|exited|backoff|stopping */
    bool ready, healthy;
    bool busy;                        /* order.health.busy_metric > 0 at the last check */
    bool deleting, replacing;
    bool creating;                    /* a starter thread is creating its container (off the lock) */
    double term_at;                   /* monotonic s: SIGTERM sent for a delete (0: not yet) */
    bool killed;                      /* ... and SIGKILL, its stop grace over */
    int restarts, last_exit_code;
    char started_at[40];
    int pid;
    int health_failures;
    double next_check, restart_at;    /* monotonic seconds */
    double quick_at;                  /* the next quick probe while "starting" (monotonic s) */
    double started_mono;              /* when its container started (monotonic s): the first answer's delay is logged */
    double next_inspect;              /* inspect at the latest then (monotonic s); 0: next round */
    unsigned long events_seen;        /* the agent's event count at its last inspect */
    bool running;                     /* as the last inspect found it */
    mc_backoff backoff;
    mc_agent_restart_window restart_window; /* restarts counted against order.restart.attempts */
    unsigned schedule[MC_AGENT_SCHEDULE_MAX]; /* restart delays chosen, in order (ms) */
    size_t nschedule;
    char last_logs[4096];             /* the last lines of its previous container (a crash loop's cause) */
    mc_cgroup_usage usage;            /* from its cgroup, each round while running */
    mc_cgroup_files cgroup;           /* where usage is read, located once per pid */
    double cpu_percent;               /* of one core, over the last window of >= 1 s */
    double cpu_mark, cpu_mark_at;     /* cpu_seconds and monotonic time where that window began */
    bool limits_pending;              /* order's limits not yet applied to the running container (resize.c) */
    double limits_retry_at;           /* monotonic s: the next try after the engine refused */
} mc_agent_instance;

typedef struct mc_agent {
    mc_service svc;
    char node[64], engine_socket[256], state_dir[512], url[256], key_prefix[64];
    int port;
    pthread_mutex_t lock;
    uint64_t fence;                   /* highest fencing token accepted */
    mc_agent_instance inst[MC_AGENT_MAX_INSTANCES];
    mc_docker *engine;                /* the supervisor's own client */
    mc_periodic *loop;
    CURL *probe;                      /* the health probes' handle (the loop's thread only) */
    mc_docker *events_engine;         /* the event follower's own client */
    pthread_t events_thread;
    bool events_started;
    atomic_ulong events;              /* engine events seen on this node's containers */
    atomic_bool events_stop;
    mc_periodic *beat;                /* the heartbeat's own thread */
    char *beat_text;                  /* the last heartbeat built (only that thread) */
    atomic_int starters;              /* starter threads running (creates off the lock) */
    atomic_bool no_starters;          /* stopping: no new starter */
    struct mc_logship *logship;       /* containers' lines to Kafka (logship.c) */
} mc_agent;

int mc_agent_api_routes(mc_agent *a, mc_err *err);
/* Loads the fence, adopts the node's running containers, starts the loop. */
int mc_agent_supervise_start(mc_agent *a, mc_err *err);
void mc_agent_supervise_stop(mc_agent *a);
/* The instance as JSON (contract: heartbeat and GET /v1/instances). Lock held. */
json_t *mc_agent_instance_json(const mc_agent_instance *i);
/* A new instance's container create+start handed to a starter at once
 * (the order's own thread), not at the supervisor's next round: a round
 * may be seconds long while the engine is slow to answer an inspect or a
 * container its probe (15 s seen under load 14 before an autoscaled
 * transcoder's create began). Nothing when no starter is free. Lock held. */
void mc_agent_start_now(mc_agent *a, mc_agent_instance *i);
int mc_agent_save_fence(mc_agent *a, mc_err *err);
int mc_agent_save_order(mc_agent *a, const mc_agent_instance *i, mc_err *err);
void mc_agent_forget_order(mc_agent *a, const char *name);

/* resize.c: live resource limits (orchestrator/agent/limits.h) */
enum MHD_Result mc_agent_limits_put(mc_agent *a, mc_http_req *req, const char *name, const char *body, size_t len);
/* Applies the instance's pending limits to its running container; lock held. */
void mc_agent_limits_step(mc_agent *a, mc_agent_instance *i, double now);
/* Adds "resources" (the limits held, "applied") to the instance's JSON. */
void mc_agent_limits_json(const mc_agent_instance *i, json_t *instance);

#endif
