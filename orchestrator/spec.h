/* spec.h — the declarative spec of the platform (deploy/mcloud.yaml).
 *
 * Owns parsing the YAML (libyaml's document API, so every node keeps its
 * line), checking it, formatting it back in canonical form and the
 * human diff between two versions. A spec with any error is refused as a
 * whole: mc_spec_parse collects every error it finds, each naming the field
 * path and the line (`services.transcode.resources.memory: "2 GB" is not a
 * size (line 14)`), and returns -1 with nothing half-filled kept.
 *
 * Shape (every field but image optional; durations take ms/s/m/h, sizes
 * K/M/G/T with an optional "i"):
 *   version: 1
 *   instance_ports: 21000-21999   # per-instance ports are taken from here
 *   services:
 *     stream:
 *       image: localhost/mcloud-stream:latest
 *       count: 2
 *       resources: {cpus: 0.5, memory: 256M, pids: 256}
 *       env: {MCLOUD_LOG_LEVEL: info}
 *       ports: {public: 18081, env: MCLOUD_STREAM_PORT}
 *       health: {path: /healthz, ready_path: /readyz, interval: 2s, timeout: 1s, failures: 3,
 *                busy_metric: mcloud_transcode_running}  # > 0 on /metrics: busy (scale-down
 *                                                        # stops idle instances first)
 *       restart: {attempts: 10, interval: 60s, delay: 500ms, max_delay: 30s}
 *       update: {max_parallel: 1, min_healthy_time: 10s, healthy_deadline: 5m,
 *                auto_revert: true, canary: 0}
 *       constraints: {disk: ssd}      # node labels that must match
 *       stop_grace: 30s
 *       volume: {name: cache, target: /var/cache/mcloud}
 *       scaling: {topic: mcloud.transcode.jobs, group: mcloud-transcode, min: 1, max: 4,
 *                 lag_per_instance: 5, interval: 5s, up_window: 0s, down_window: 60s}
 * scaling makes the service autoscaled on the lag of a Kafka consumer group
 * (orchestrator/autoscale.h): count is then the scaler's and stays within
 * min..max; max may not exceed the topic's partition count (when the
 * check knows it), as consumers beyond it sit idle.
 * Each instance `<service>-<index>` gets the port
 * instance_ports.first + 100 * (service's position) + 50 * slot + index:
 * slot 0, or slot 1 while a copy of it still runs on another node in slot
 * 0 (a move, a drain), so two nodes on one machine never clash. */
#ifndef MCLOUD_ORCH_SPEC_H
#define MCLOUD_ORCH_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MC_SPEC_MAX_SERVICES 16
#define MC_SPEC_MAX_ENV 32
#define MC_SPEC_MAX_LABELS 8
#define MC_SPEC_NAME_MAX 40       /* service names: [a-z][a-z0-9-]* */
#define MC_SPEC_STR_MAX 256
#define MC_SPEC_MAX_COUNT 49      /* instances (canaries included) per service: two port slots of 50 */
#define MC_SPEC_MAX_ERRORS 32
#define MC_SPEC_MAX_BYTES (256 * 1024)

typedef struct mc_spec_kv {
    char key[64];
    char value[MC_SPEC_STR_MAX];
} mc_spec_kv;

typedef struct mc_spec_scaling {     /* enabled: the service is autoscaled */
    bool enabled;
    char topic[128], group[128];      /* the Kafka topic and the consumer group whose lag counts */
    int min, max;                     /* instances */
    int64_t lag_per_instance;         /* the target: messages waiting per instance */
    int64_t interval_ms;              /* between evaluations */
    int64_t up_window_ms, down_window_ms; /* stabilisation, per direction */
} mc_spec_scaling;

typedef struct mc_spec_service {
    char name[MC_SPEC_NAME_MAX + 1];
    int line;                         /* where its key was, for later messages */
    char image[MC_SPEC_STR_MAX];
    int count;
    double cpus;
    int64_t memory_bytes;
    int64_t pids;
    mc_spec_kv env[MC_SPEC_MAX_ENV];
    int env_count;
    int public_port;                  /* 0: not behind the edge */
    char port_env[64];                /* env var carrying the instance's port */
    char health_path[128], ready_path[128];
    char busy_metric[64];             /* a gauge of its /metrics, > 0 while it works; "": none */
    int64_t health_interval_ms, health_timeout_ms;
    int health_failures;
    int restart_attempts;
    int64_t restart_interval_ms, restart_delay_ms, restart_max_delay_ms;
    int max_parallel;
    int64_t min_healthy_ms, healthy_deadline_ms;
    bool auto_revert;
    int canary;
    mc_spec_kv constraints[MC_SPEC_MAX_LABELS];
    int constraint_count;
    int64_t stop_grace_ms;
    char volume_name[64], volume_target[MC_SPEC_STR_MAX];
    mc_spec_scaling scaling;
    int scaling_line;                 /* where scaling: was (0: absent) */
} mc_spec_service;

typedef struct mc_spec {
    int version;
    int port_first, port_last;
    mc_spec_service services[MC_SPEC_MAX_SERVICES];
    int service_count;
} mc_spec;

typedef struct mc_spec_errors {
    char msg[MC_SPEC_MAX_ERRORS][320];
    int count;                        /* may exceed MC_SPEC_MAX_ERRORS: kept ones first */
} mc_spec_errors;

typedef struct mc_spec_check {
    /* Image repositories (the part before ':') a service may name; NULL
     * terminated. NULL: any well-formed reference. */
    const char *const *known_images;
    /* The partition count of a Kafka topic, or -1 when unknown (the topic
     * does not exist yet, Kafka cannot be read): then scaling.max is not
     * checked against it here, and the scaler caps it at run time. NULL:
     * never known. */
    int (*topic_partitions)(void *ctx, const char *topic);
    void *topic_ctx;
} mc_spec_check;

/* Parses and validates text (len bytes). 0 and *out filled, or -1 with
 * every error found in errs (at least one). */
int mc_spec_parse(const char *text, size_t len, const mc_spec_check *check, mc_spec *out,
                  mc_spec_errors *errs);
/* Validation alone (mc_spec_parse runs it): cross-field rules. */
int mc_spec_validate(const mc_spec *spec, const mc_spec_check *check, mc_spec_errors *errs);

/* Canonical YAML of spec (malloc'd, NUL-terminated); parses back equal. */
char *mc_spec_format(const mc_spec *spec);
/* The human diff from a (NULL: empty) to b, one change per line
 * ("+ service x", "- service x", "~ x.count: 2 -> 4"); malloc'd, "" when equal. */
char *mc_spec_diff(const mc_spec *a, const mc_spec *b);

/* True when instances of a and b run the same way (only count, the
 * update strategy or the resources differ): a scale restarts nothing, and
 * new resources are applied to the running containers in place
 * (orchestrator/limits.h). */
bool mc_spec_same_template(const mc_spec_service *a, const mc_spec_service *b);
const mc_spec_service *mc_spec_find(const mc_spec *spec, const char *name);
int mc_spec_service_position(const mc_spec *spec, const char *name);
/* The port instance <name>-<index> listens on in slot 0 or 1. */
int mc_spec_instance_port(const mc_spec *spec, int service_pos, int index, int slot);

/* "512M" -> bytes; "2s" -> ms. -1 if not one. */
int64_t mc_spec_parse_size(const char *s);
int64_t mc_spec_parse_duration_ms(const char *s);
/* Joins errs into one message ("; " separated) into buf. */
void mc_spec_errors_join(const mc_spec_errors *errs, char *buf, size_t len);

#endif
