/* docker.h — a client of the Docker Engine API over the engine's unix socket
 * (podman's compatible service `podman system service` here, a real Docker
 * engine elsewhere), on libcurl.
 *
 * It owns what the node agent asks of a container engine: create a container
 * (labels, memory/NanoCpus/pids limits, host network, env, nproc ulimit,
 * named volumes), start, stop with a grace period, kill, change its limits
 * in place, inspect, list by label, remove, read logs and follow the event stream. Request bodies and
 * response parsing are pure functions (mc_docker_*_body, mc_docker_parse_*)
 * so unit tests and fuzz targets reach them without an engine. */
#ifndef MCLOUD_DOCKER_H
#define MCLOUD_DOCKER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define MC_DOCKER_API_VERSION "v1.41"
#define MC_DOCKER_LIBPOD_VERSION "v4.0.0" /* podman's own API, for what the compatible one lacks */
#define MC_DOCKER_ID_MAX 80
#define MC_DOCKER_NAME_MAX 128
#define MC_DOCKER_NPROC 4096  /* what runc can set here (see docs/ARCHITECTURE.md) */
/* Given explicitly too: with any Ulimits in the request podman drops its
 * configured nofile for its own (1048576), which runc may not set either. */
#define MC_DOCKER_NOFILE 16384

typedef struct mc_docker mc_docker;

typedef struct mc_docker_kv {
    const char *key;
    const char *value;
} mc_docker_kv;

typedef struct mc_docker_volume {
    const char *name;    /* a named volume, made by the engine on first use */
    const char *target;  /* mount point inside the container */
} mc_docker_volume;

/* What a container is made of. Zero limits mean "no limit". */
typedef struct mc_docker_spec {
    const char *image;
    const char *const *cmd;        /* NULL-terminated, or NULL: the image's */
    const mc_docker_kv *env;       /* NAME=VALUE pairs */
    size_t nenv;
    const mc_docker_kv *labels;
    size_t nlabels;
    const mc_docker_volume *volumes;
    size_t nvolumes;
    int64_t memory_bytes;
    int64_t nano_cpus;             /* 1e9 = one CPU */
    int64_t pids_limit;
    int stop_timeout_s;            /* the engine's own grace on stop (0: its default) */
} mc_docker_spec;

/* A container as inspect or list report it. */
typedef struct mc_docker_container {
    char id[MC_DOCKER_ID_MAX];
    char name[MC_DOCKER_NAME_MAX];   /* without the leading '/' */
    char image[256];
    char state[32];                  /* created, running, exited, ... */
    bool running;
    int pid;                         /* of its main process on the host; 0 when not running */
    int exit_code;
    char started_at[40];             /* RFC 3339 as the engine gives it */
    char finished_at[40];
    json_t *labels;                  /* object; owned, released by mc_docker_container_clear */
} mc_docker_container;

/* One event of the stream. */
typedef struct mc_docker_event {
    char type[32];      /* container, image, ... */
    char action[32];    /* start, die, stop, kill, oom, health_status, ... */
    char id[MC_DOCKER_ID_MAX];
    char name[MC_DOCKER_NAME_MAX];
    int exit_code;      /* from the "exitCode" attribute on die; -1 when absent */
    long long time;     /* seconds since the epoch */
} mc_docker_event;

/* ---- pure: request bodies and response parsing ---- */

/* The JSON body of POST /containers/create. NULL with err on a bad spec. */
json_t *mc_docker_create_body(const mc_docker_spec *spec, mc_err *err);
/* The url-encoded `filters` value selecting containers that carry every
 * label "k=v" (or "k" for any value) of labels[0..n). Caller frees. */
char *mc_docker_label_filter(const char *const *labels, size_t n);
/* The OCI resources body of podman's POST /libpod/containers/{id}/update:
 * memory (and memory+swap at twice it, podman's own default at create),
 * the CPU quota per 100 ms period, the pids limit. Zero: no limit. */
json_t *mc_docker_update_body(int64_t memory_bytes, int64_t nano_cpus, int64_t pids_limit);
int mc_docker_parse_inspect(const char *body, size_t len, mc_docker_container *out, mc_err *err);
/* GET /containers/json: *out is a malloc'd array of *count containers
 * (state and labels filled, pid and times not: inspect for those). */
int mc_docker_parse_list(const char *body, size_t len, mc_docker_container **out, size_t *count,
                         mc_err *err);
int mc_docker_parse_event(const char *line, size_t len, mc_docker_event *out, mc_err *err);
/* Logs of a container without a TTY come framed (8-byte header: stream,
 * 0, 0, 0, big-endian length). Writes the payloads, unframed, into out
 * (cap bytes, NUL-terminated) and returns their length; an input that is not
 * framed is copied as is. */
size_t mc_docker_demux_logs(const unsigned char *in, size_t len, char *out, size_t cap);
void mc_docker_container_clear(mc_docker_container *c);
void mc_docker_containers_free(mc_docker_container *list, size_t count);

/* ---- the engine ---- */

/* A client of the engine at the unix socket `socket_path` (e.g.
 * /run/podman/podman.sock). Does not connect yet. */
mc_docker *mc_docker_new(const char *socket_path, mc_err *err);
void mc_docker_free(mc_docker *d);
/* GET /_ping: 0 when the engine answers. */
int mc_docker_ping(mc_docker *d, mc_err *err);
/* Creates the container `name`; its id goes to id_out. MC_ERR_CONFLICT when
 * the name is taken, MC_ERR_NOT_FOUND when the image is missing. */
int mc_docker_create(mc_docker *d, const char *name, const mc_docker_spec *spec,
                     char id_out[MC_DOCKER_ID_MAX], mc_err *err);
int mc_docker_start(mc_docker *d, const char *id, mc_err *err);
/* SIGTERM (or the image's stop signal), SIGKILL after timeout_s. */
int mc_docker_stop(mc_docker *d, const char *id, int timeout_s, mc_err *err);
int mc_docker_kill(mc_docker *d, const char *id, const char *signal, mc_err *err);
/* Removes the container (force: also a running one) and its anonymous volumes. */
int mc_docker_remove(mc_docker *d, const char *id, bool force, mc_err *err);
int mc_docker_inspect(mc_docker *d, const char *id, mc_docker_container *out, mc_err *err);
/* Changes the limits of a running container in place (its cgroup), through
 * podman's own API: podman 4.3 answers the Docker-compatible
 * POST /containers/{id}/update with 404, and its libpod update does not
 * persist (a restart of that container by podman itself would drop it:
 * the caller keeps the record). A Docker engine, which has no libpod API,
 * is asked through the compatible endpoint instead. MC_ERR_NOT_FOUND when
 * the container is gone; the engine's refusal (e.g. memory below what the
 * container uses: the kernel cannot reclaim it) otherwise. */
int mc_docker_update(mc_docker *d, const char *id, int64_t memory_bytes, int64_t nano_cpus, int64_t pids_limit,
                     mc_err *err);
/* Every container (running or not) carrying all the labels ("k=v" or "k"). */
int mc_docker_list(mc_docker *d, const char *const *labels, size_t nlabels,
                   mc_docker_container **out, size_t *count, mc_err *err);
/* The last `tail` lines of stdout and stderr, unframed, into out. */
int mc_docker_logs(mc_docker *d, const char *id, int tail, char *out, size_t cap, mc_err *err);
/* Every line of stdout and stderr since the second since_s (0: all),
 * unframed, each prefixed with the engine's RFC 3339 nano timestamp and a
 * space (timestamps=1): *out is malloc'd (*len bytes, NUL-terminated). */
int mc_docker_logs_since(mc_docker *d, const char *id, long long since_s, char **out, size_t *len, mc_err *err);

/* Follows the event stream of containers carrying the labels, calling fn for
 * each event until fn returns non-zero or timeout_ms passes (0: no limit).
 * While the stream is idle fn is also called with ev NULL about once a
 * second, so a caller can end an unlimited stream (return non-zero).
 * Returns 0 when fn stopped it or the time ran out. */
typedef int (*mc_docker_event_fn)(const mc_docker_event *ev, void *arg);
int mc_docker_events(mc_docker *d, const char *const *labels, size_t nlabels, long timeout_ms,
                     mc_docker_event_fn fn, void *arg, mc_err *err);

#endif
