/* config.c — the settings table and precedence resolution (see config.h).
 *
 * Values are resolved once at start and then changed only by announcements
 * from the Redis config service. A changed value is appended to a list that
 * lives as long as the config, so a pointer handed out earlier stays valid. */
#include "common/config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const mc_setting settings[] = {
    {"log.level", "info", false, "Lowest log level written: debug, info, warn or error."},
    {"http.bind", "127.0.0.1", true, "Address the daemon's HTTP server listens on."},
    {"redis", "127.0.0.1:16379", true, "Redis host:port (config service, registry, locks)."},
    {"redis.password", "", true, "Redis password; empty for none."},
    {"kafka", "127.0.0.1:19092", false, "Kafka bootstrap servers (comma-separated host:port)."},
    {"mysql.master", "127.0.0.1:13306", false,
     "MariaDB master host:port (all writes). Managed by mcloud-dbmon: the config service wins over the environment."},
    {"mysql.replica", "127.0.0.1:13307", false,
     "MariaDB replica host:port (reads; empty: read from the master). Managed by mcloud-dbmon."},
    {"mysql.user", "mcloud", false, "MariaDB user."},
    {"mysql.password", "mcloud-dev-password", false, "MariaDB password."},
    {"mysql.database", "mcloud", false, "MariaDB database."},
    {"mysql.pool_size", "4", false, "Connections per MariaDB server in each process."},
    {"mysql.connect_timeout_s", "5", false, "Seconds to wait for a MariaDB connection."},
    {"mysql.read_timeout_s", "30", false, "Seconds to wait for a MariaDB answer."},
    {"mysql.admin_user", "mcloud_admin", false, "MariaDB account of operator tasks (mcloud-dbmon: STOP SLAVE, read_only, CHANGE MASTER)."},
    {"mysql.admin_password", "mcloud-dev-admin-password", false, "Password of mysql.admin_user."},
    {"mysql.repl_user", "repl", false, "MariaDB replication account the replicas connect with."},
    {"mysql.repl_password", "mcloud-dev-repl-password", false, "Password of mysql.repl_user."},
    {"dbmon.port", "18086", false, "HTTP port of mcloud-dbmon (health and metrics only)."},
    {"dbmon.servers", "127.0.0.1:13306,127.0.0.1:13307,127.0.0.1:13308", false,
     "Every MariaDB server mcloud-dbmon watches and may promote (comma-separated host:port)."},
    {"dbmon.peer_hosts", "", false,
     "Host the other servers replicate from, per dbmon.servers entry (comma-separated, same order; "
     "empty: the entry's own host). A separate loopback address per server lets a fault cut replication alone."},
    {"dbmon.source_addr", "", false,
     "Local address mcloud-dbmon's MariaDB connections come from (empty: the kernel's choice)."},
    {"dbmon.interval_ms", "500", false, "Interval of mcloud-dbmon's rounds (observe every server, decide)."},
    {"dbmon.dead_after_ms", "3000", false,
     "How long the master must be unreachable (and lost by every replica's IO thread) before a failover."},
    {"dbmon.lock_ttl_ms", "3000", false, "TTL of the lock that makes one mcloud-dbmon instance active."},
    {"mysql.replica_max_lag_s", "0", false, "Read from the master while the replica lags more (0: no check)."},
    {"s3.endpoint", "http://127.0.0.1:19000", false, "S3 endpoint URL."},
    {"s3.region", "us-east-1", false, "S3 region used in SigV4 signatures."},
    {"s3.bucket", "mcloud", false, "Bucket holding uploads, sources and renditions."},
    {"s3.access_key", "mcloud", false, "S3 access key id."},
    {"s3.secret_key", "mcloud-dev-secret-key", false, "S3 secret access key."},
    {"s3.path_style", "true", false, "Path-style URLs (true) or virtual-host style (false)."},
    {"upload.port", "18080", false, "HTTP port of mcloud-upload (the tus endpoint)."},
    {"upload.public_url", "http://127.0.0.1:18080", false, "Scheme and authority clients reach mcloud-upload at (Location headers)."},
    {"upload.part_size_mb", "8", false, "Smallest S3 part of an upload in MiB (grows with the length: at most 9000 parts)."},
    {"upload.max_size", "107374182400", false, "Largest upload in bytes (Tus-Max-Size); a token may lower it."},
    {"upload.expiry_s", "86400", false, "Seconds an unfinished upload lives before the sweeper aborts it."},
    {"upload.lock_ttl_ms", "15000", false, "TTL of the per-upload write lock; renewed while a PATCH streams."},
    {"upload.sweep_interval_s", "10", false, "Seconds between sweeps (expiry, unfinished completions, outbox)."},
    {"upload.probe_memory_mb", "1024", false, "Address space in MiB of the process probing a finished upload (a child of the probe server) (a quarter of it: its largest allocation)."},
    {"upload.probe_cpu_s", "30", false, "CPU seconds a probe child may use before it is killed."},
    {"upload.orphan_age_s", "3600", false, "Seconds after which an S3 multipart upload under sources/ or uploads/ that no active upload owns is aborted."},
    {"upload.outbox_commit_delay_ms", "0", false,
     "Fault injection for tests: pause between the broker's ack of a job and the outbox commit. Keep 0."},
    {"upload.probe_timeout_s", "60", false, "Seconds a probe may take before its child is killed."},
    {"stream.port", "18081", false, "HTTP port of mcloud-stream (playback)."},
    {"stream.public_url", "http://127.0.0.1:18081", false, "Scheme and authority players reach mcloud-stream at (signed playback URLs)."},
    {"stream.cache_dir", "", true, "Directory of mcloud-stream's disk cache (empty: $MCLOUD_HOME/stream-cache)."},
    {"stream.cache_max_mb", "2048", false, "Largest size of mcloud-stream's disk cache in MiB (LRU)."},
    {"stream.url_ttl_s", "86400", false, "Seconds the playback URLs printed by `mcloud play` stay valid."},
    {"stream.video_ttl_ms", "2000", false, "How long mcloud-stream trusts a video row it looked up (status, owner)."},
    {"stream.web_dir", "", true, "Directory of the player page and hls.js (empty: the source tree's stream/web)."},
    {"api.port", "18082", false, "HTTP port of mcloud-api (the consumer REST API)."},
    {"api.public_url", "http://127.0.0.1:18082", false, "Scheme and authority apps reach mcloud-api at."},
    {"api.rate_limit_per_s", "50", false, "Requests per second an API key may sustain (Redis token bucket)."},
    {"api.rate_limit_burst", "100", false, "Requests an API key may send at once before 429 (the bucket's size)."},
    {"api.upload_ttl_s", "86400", false, "Default lifetime of a direct upload's token (POST /v1/uploads)."},
    {"api.cursor_secret", "mcloud-dev-cursor-secret", true, "HMAC secret signing pagination cursors; at least 16 bytes."},
    {"api.openapi_path", "", true, "The OpenAPI document served at /v1/openapi.json (empty: the source tree's api/openapi.yaml)."},
    {"api.console_dir", "", true, "Directory of the web console served at /console/ (empty: the source tree's api/console)."},
    {"api.port", "18082", false, "HTTP port of mcloud-api (the consumer API)."},
    {"webhooks.enabled", "true", false, "Run the webhook ingest and sender threads in this mcloud-api (false: it only serves the API)."},
    {"webhooks.allow_private", "false", false, "Allow webhook URLs to loopback and private addresses (checked on the address connected to); tests set it."},
    {"webhooks.timeout_ms", "10000", false, "Milliseconds a webhook receiver has to answer one attempt."},
    {"webhooks.retry_initial_ms", "30000", false, "Delay before a failed webhook's first retry; doubles each attempt (jittered into [d/2, d])."},
    {"webhooks.retry_max_ms", "7200000", false, "Longest delay between two attempts of a webhook."},
    {"webhooks.max_attempts", "24", false, "Attempts of one webhook delivery before it is failed (24 with the defaults: about a day)."},
    {"webhooks.disable_after_failures", "100", false, "Failed attempts in a row after which a webhook endpoint is disabled."},
    {"webhooks.retention_s", "2592000", false, "Age (seconds since the last attempt) after which delivered and failed webhook deliveries are removed, and their events once no delivery is left (30 days)."},
    {"webhooks.sweep_interval_ms", "3600000", false, "Interval of the webhook retention sweep."},
    {"webhooks.poll_ms", "500", false, "Interval of the webhook sender's look for due deliveries (new events nudge it at once)."},
    {"webhooks.group", "mcloud-api-webhooks", false, "Kafka consumer group of mcloud-api's webhook ingest."},
    {"transcode.port", "18083", false, "HTTP port of mcloud-transcode (health and metrics only)."},
    {"agent.port", "18090", false, "HTTP port of mcloud-agent (the orchestrator's orders)."},
    {"agent.node", "node-1", false, "Name of this node (mcloud:node:<node>, the containers' mcloud.node label)."},
    {"agent.engine_socket", "/run/podman/podman.sock", false, "Unix socket of the container engine's Docker API."},
    {"agent.state_dir", "", false, "Directory of the agent's fence and orders (empty: $MCLOUD_HOME/agent-<node>)."},
    {"agent.url", "", false, "URL the orchestrator reaches this agent at (empty: http://127.0.0.1:<agent.port>)."},
    {"agent.key_prefix", "mcloud", false, "Prefix of the node's heartbeat key <prefix>:node:<node> (the orchestrator's orchestrator.key_prefix; tests use their own)."},
    {"logs.topic", "mcloud.logs", false, "Kafka topic of every container's log lines (key <service>/<instance>): the agents write it, `mcloud logs` reads it."},
    {"logs.retention_hours", "168", false, "Hours Kafka keeps the log lines (the topic's retention.ms, set when an agent creates it)."},
    {"logs.buffer_lines", "10000", false, "Log lines an agent holds while Kafka is unreachable; beyond, lines are dropped and counted (mcloud_agent_log_lines_dropped_total)."},
    {"transcode.group", "mcloud-transcode", false, "Kafka consumer group the transcoding workers form."},
    {"video.events_topic", "mcloud.video.events", false, "Topic of video events (key: video id): the upload's completed and failed, for mcloud-api's webhooks."},
    {"transcode.jobs_topic", "mcloud.transcode.jobs", false, "Topic of transcode jobs (key: video id)."},
    {"transcode.events_topic", "mcloud.transcode.events", false, "Topic of progress, done and failed events."},
    {"transcode.dlq_topic", "mcloud.transcode.dlq", false, "Dead-letter topic: jobs given up."},
    {"transcode.max_attempts", "3", false, "Runs of a job before a transient failure is final (invalid sources fail at once)."},
    {"transcode.grace_ms", "30000", false, "At SIGTERM, how long the current job may finish before it is handed back."},
    {"transcode.heartbeat_ms", "2000", false, "Interval of job heartbeats (jobs.heartbeat_at) and progress events."},
    {"transcode.retry_backoff_ms", "2000", false, "Pause before a failed job is taken again."},
    {"transcode.part_size_mb", "8", false, "S3 part size of outputs in MiB; smaller objects are one PutObject."},
    {"transcode.session_timeout_ms", "10000", false, "Kafka session timeout: how soon a dead worker's partitions move."},
    {"transcode.group_heartbeat_ms", "500", false, "Kafka group heartbeat (at most a third of the session timeout): how soon a worker takes part in a rebalance (a busy worker only between jobs)."},
    {"transcode.job_timeout_ms", "3600000", false, "Longest job (Kafka max.poll.interval.ms); a worker past it leaves the group."},
    {"transcode.encoder_threads", "0", false, "x264 threads per rung (0: automatic)."},
    {"transcode.queue_frames", "0", false, "Frames each rung's queue holds: how far decoding may run ahead of the slowest rung (0: the engine's default)."},
    {"transcode.progressive", "1", false, "1: publish HLS as it is made, so a video plays while it transcodes."},
    {"transcode.test_hold_after_segments", "0", false, "TEST ONLY: pause each job once every rung has published this many segments (0: never)."},
    {"transcode.test_hold_release_file", "", false, "TEST ONLY: a held job goes on once this file exists."},
    {"transcode.tmp_dir", "", true, "Directory for the progressive MP4s being assembled (empty: $TMPDIR or /tmp)."},
    {"orchestrator.port", "18084", false, "HTTP port of mcloud-orchestrator (the operator API)."},
    {"orchestrator.url", "http://127.0.0.1:18084", true, "Where the mcloud command line reaches the orchestrator."},
    {"orchestrator.interval_ms", "1000", false, "Milliseconds between reconcile rounds of the active orchestrator."},
    {"orchestrator.lock_ttl_ms", "5000", false, "TTL of the active orchestrator's lock; a standby takes over after it."},
    {"orchestrator.images", "localhost/mcloud-upload,localhost/mcloud-transcode,localhost/mcloud-stream,localhost/mcloud-api,localhost/mcloud-health", false, "Image repositories a spec may name (comma-separated)."},
    {"orchestrator.lock_name", "orchestrator", false, "Name of the Redis lock the active orchestrator holds (tests use their own)."},
    {"orchestrator.key_prefix", "mcloud", false, "Prefix of the Redis keys the orchestrator reads and writes: <prefix>:node:* heartbeats, <prefix>:orch:* (tests use their own)."},
    {"orchestrator.node_grace_ms", "15000", false, "How long a node whose heartbeat vanished keeps its instances before they are placed elsewhere."},
    {"orchestrator.order_timeout_ms", "5000", false, "Milliseconds an order to an agent may take."},
    {"orchestrator.prometheus_sd_file", "", false, "Where the orchestrator writes the Prometheus file_sd target list of every instance's /metrics (empty: nowhere)."},
    {"edge.port", "18089", false, "HTTP port of mcloud-edge (health, metrics, GET /v1/upstreams)."},
    {"edge.dir", "", true, "mcloud-edge's nginx prefix: nginx.conf, pid, logs, temp files, tls/ (empty: $MCLOUD_HOME/edge)."},
    {"edge.bind", "127.0.0.1", true, "Address the edge's public ports listen on (0.0.0.0: every interface)."},
    {"edge.upload_port", "18080", false, "The edge's HTTP port for mcloud-upload (0: none)."},
    {"edge.stream_port", "18081", false, "The edge's HTTP port for mcloud-stream (0: none)."},
    {"edge.api_port", "18082", false, "The edge's HTTP port for mcloud-api (0: none)."},
    {"edge.upload_https_port", "18443", false, "The edge's HTTPS port for mcloud-upload (0: none)."},
    {"edge.stream_https_port", "18444", false, "The edge's HTTPS port for mcloud-stream (0: none)."},
    {"edge.api_https_port", "18445", false, "The edge's HTTPS port for mcloud-api (0: none)."},
    {"edge.tls_cert", "", true, "The operator's certificate (PEM, full chain) for the edge's HTTPS ports (empty: a self-signed one in <edge.dir>/tls, CA tls/ca.pem)."},
    {"edge.tls_key", "", true, "The private key of edge.tls_cert."},
    {"edge.tls_names", "DNS:localhost,IP:127.0.0.1,IP:::1", false, "subjectAltName of the self-signed certificate."},
    {"edge.interval_ms", "1000", false, "Milliseconds between two rounds of mcloud-edge (registry read, /readyz probes, nginx.conf)."},
    {"edge.probe_timeout_ms", "1000", false, "Timeout of the edge's /readyz probe of an instance."},
    {"edge.probe_failures", "2", false, "Failed /readyz probes in a row that take an instance out of the edge."},
    {"edge.nginx", "/usr/sbin/nginx", true, "The nginx binary mcloud-edge runs."},
    {"edge.openssl", "openssl", true, "The openssl binary that makes the self-signed certificate."},
    {"edge.stop_nginx", "true", false, "mcloud-edge stops nginx when it stops (SIGTERM); a crash leaves nginx serving."},
    {"registry.ttl_ms", "10000", false, "Service registry entry TTL; heartbeats every third of it."},
    {"registry.publish", "true", false, "false: the daemon does not enter the service registry, so no edge routes players to it (a test's private instance with its own keys)."},
    {"token.key_id", "dev", false, "Key id of the secret that signs bearer tokens (common/token.h)."},
    {"token.secret", "mcloud-dev-token-secret", true, "HMAC secret signing bearer tokens; at least 16 bytes."},
    {"playback.key_id", "dev", false, "Key id of the secret that signs playback URLs (common/playback.h)."},
    {"playback.secret", "mcloud-dev-playback-secret", true, "HMAC secret signing playback URLs; at least 16 bytes."},
    {"playback.previous_key_id", "", false, "Key id of the playback key being rotated out (verifies only; empty: none)."},
    {"playback.previous_secret", "", true, "Secret of the playback key being rotated out (empty: none)."},
    {NULL, NULL, false, NULL},
};

typedef struct retired_value {
    char *value;
    struct retired_value *next;
} retired_value;

struct mc_config {
    pthread_mutex_t lock;
    size_t count;
    char **values;               /* owned; one per setting */
    mc_config_origin *origins;
    retired_value *retired;      /* earlier values, kept valid until free */
};

const mc_setting *mc_config_settings(void) { return settings; }

static long setting_index(const char *name) {
    for (long i = 0; settings[i].name; i++)
        if (strcmp(settings[i].name, name) == 0) return i;
    return -1;
}

/* The settings a failover moves: the config service wins over the
 * environment for them (see config.h). */
static const char *const managed_settings[] = {"mysql.master", "mysql.replica", NULL};

bool mc_config_managed(const char *name) {
    for (size_t i = 0; managed_settings[i]; i++)
        if (strcmp(managed_settings[i], name) == 0) return true;
    return false;
}

const mc_setting *mc_config_find_setting(const char *name) {
    long i = setting_index(name);
    return i < 0 ? NULL : &settings[i];
}

void mc_config_env_name(const char *name, char *buf, size_t len) {
    size_t n = (size_t)snprintf(buf, len, "MCLOUD_");
    for (const char *p = name; *p && n + 1 < len; p++)
        buf[n++] = (*p == '.' || *p == '-') ? '_' : (char)toupper((unsigned char)*p);
    if (n < len) buf[n] = '\0';
}

static char *env_value(const char *name) {
    char env[128];
    mc_config_env_name(name, env, sizeof env);
    const char *v = getenv(env);
    return v ? strdup(v) : NULL;
}

mc_config *mc_config_load(mc_config_lookup remote, void *remote_ctx) {
    mc_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg) return NULL;
    pthread_mutex_init(&cfg->lock, NULL);
    while (settings[cfg->count].name) cfg->count++;
    cfg->values = calloc(cfg->count, sizeof *cfg->values);
    cfg->origins = calloc(cfg->count, sizeof *cfg->origins);
    if (!cfg->values || !cfg->origins) {
        mc_config_free(cfg);
        return NULL;
    }
    for (size_t i = 0; i < cfg->count; i++) {
        const mc_setting *s = &settings[i];
        bool managed = mc_config_managed(s->name);
        char *v = NULL;
        mc_config_origin origin = MC_CONFIG_REDIS;
        /* A managed setting is moved by a failover: what the config
         * service says wins; the environment only bootstraps it. */
        if (managed && remote) v = remote(remote_ctx, s->name);
        if (!v) {
            v = env_value(s->name);
            origin = MC_CONFIG_ENV;
        }
        if (!v && remote && !s->local_only && !managed) {
            v = remote(remote_ctx, s->name);
            origin = MC_CONFIG_REDIS;
        }
        if (!v) {
            v = strdup(s->default_value);
            origin = MC_CONFIG_DEFAULT;
        }
        cfg->values[i] = v;
        cfg->origins[i] = origin;
    }
    return cfg;
}

void mc_config_free(mc_config *cfg) {
    if (!cfg) return;
    if (cfg->values)
        for (size_t i = 0; i < cfg->count; i++) free(cfg->values[i]);
    free(cfg->values);
    free(cfg->origins);
    for (retired_value *r = cfg->retired, *next; r; r = next) {
        next = r->next;
        free(r->value);
        free(r);
    }
    pthread_mutex_destroy(&cfg->lock);
    free(cfg);
}

const char *mc_config_get(mc_config *cfg, const char *name) {
    long i = setting_index(name);
    if (i < 0) return NULL;
    pthread_mutex_lock(&cfg->lock);
    const char *v = cfg->values[i];
    pthread_mutex_unlock(&cfg->lock);
    return v;
}

static int bad_value(const char *name, const char *value, const char *expected, mc_err *err) {
    char env[128];
    mc_config_env_name(name, env, sizeof env);
    return mc_err_set(err, MC_ERR_INVALID, "setting %s (%s) = '%s': %s", name, env,
                      value ? value : "", expected);
}

int mc_config_int(mc_config *cfg, const char *name, long min, long max, long *out, mc_err *err) {
    const char *v = mc_config_get(cfg, name);
    if (!v) return mc_err_set(err, MC_ERR_INTERNAL, "unknown setting %s", name);
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (!*v || *end || errno || n < min || n > max) {
        char expected[96];
        snprintf(expected, sizeof expected, "expected an integer from %ld to %ld", min, max);
        return bad_value(name, v, expected, err);
    }
    *out = n;
    return 0;
}

int mc_config_bool(mc_config *cfg, const char *name, bool *out, mc_err *err) {
    static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off"};
    const char *v = mc_config_get(cfg, name);
    if (!v) return mc_err_set(err, MC_ERR_INTERNAL, "unknown setting %s", name);
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0 || strcasecmp(v, no[i]) == 0) {
            *out = strcasecmp(v, yes[i]) == 0;
            return 0;
        }
    }
    return bad_value(name, v, "expected true or false", err);
}

int mc_config_copy(mc_config *cfg, const char *name, char *buf, size_t len, mc_err *err) {
    const char *v = mc_config_get(cfg, name);
    if (!v) return mc_err_set(err, MC_ERR_INTERNAL, "unknown setting %s", name);
    size_t n = strlen(v);
    if (n >= len) {
        char expected[64];
        snprintf(expected, sizeof expected, "longer than %zu bytes", len - 1);
        return bad_value(name, v, expected, err);
    }
    memcpy(buf, v, n + 1);
    return 0;
}

mc_config_origin mc_config_origin_of(mc_config *cfg, const char *name) {
    long i = setting_index(name);
    if (i < 0) return MC_CONFIG_DEFAULT;
    pthread_mutex_lock(&cfg->lock);
    mc_config_origin o = cfg->origins[i];
    pthread_mutex_unlock(&cfg->lock);
    return o;
}

const char *mc_config_origin_name(mc_config_origin origin) {
    switch (origin) {
    case MC_CONFIG_ENV: return "env";
    case MC_CONFIG_REDIS: return "redis";
    case MC_CONFIG_DEFAULT: return "default";
    }
    return "unknown";
}

bool mc_config_apply_remote(mc_config *cfg, const char *name, const char *value) {
    long i = setting_index(name);
    if (i < 0 || settings[i].local_only) return false;
    char *fresh = strdup(value ? value : settings[i].default_value);
    retired_value *r = malloc(sizeof *r);
    if (!fresh || !r) {
        free(fresh);
        free(r);
        return false;
    }
    pthread_mutex_lock(&cfg->lock);
    if (cfg->origins[i] == MC_CONFIG_ENV && !(mc_config_managed(name) && value)) {
        pthread_mutex_unlock(&cfg->lock);
        free(fresh);
        free(r);
        return false;
    }
    r->value = cfg->values[i];
    r->next = cfg->retired;
    cfg->retired = r;
    cfg->values[i] = fresh;
    cfg->origins[i] = value ? MC_CONFIG_REDIS : MC_CONFIG_DEFAULT;
    pthread_mutex_unlock(&cfg->lock);
    return true;
}
