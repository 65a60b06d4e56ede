/* supervise.c — the agent's supervisor: the thread that drives the
 * container engine. Each round it makes the engine match the orders (create,
 * replace, stop and remove), inspects every container, runs the health checks
 * itself (podman runs none without systemd): a failing health path restarts
 * the container, a failing ready path only marks it not ready; a dead or
 * unhealthy container comes back after a capped, jittered exponential
 * backoff whose delays are recorded in the instance ("restart_schedule_ms");
 * beyond `restart.attempts` restarts within `restart.interval` every delay is
 * the slowest (`max_delay`) until an interval passes.
 * A thread of its own heartbeats the node into Redis (<agent.key_prefix>:node:<node>,
 * TTL 10 s, every 2 s, never held up by an engine call); the supervisor,
 * at start, adopts the node's running containers without restarting them.
 * The engine is asked about a container only when its event stream (followed
 * by a thread of its own) said something happened to that container, or every
 * INSPECT_S as a safety net: polling every container four times a second
 * would make an idle node's agent cost grow with its containers.
 * Placement speed: a create+start runs on a starter thread, off the lock
 * (vfs copies the image per container: seconds each; up to STARTERS_MAX in
 * parallel, like a direct client would), and so do a replaced container's
 * stop and removal before it, so orders are answered at once and the other
 * instances stay supervised; a container the engine made for the order
 * although the agent's create gave up on it (a timeout under load) is taken,
 * not met as "name in use"; a new container is probed every
 * QUICK_PROBE_MS until it first answers (the spec's interval after that,
 * failures counted at that interval only); and every change of health or
 * readiness nudges the heartbeat, so the orchestrator sees it at once. */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/curl_body.h"
#include "common/fdio.h"
#include "common/http.h"
#include "common/json.h"
#include "common/log.h"
#include "common/metrics.h"
#include "orchestrator/agent/agent.h"
#include "orchestrator/agent/logship.h"

#define ROUND_MS 250
#define HEARTBEAT_S 2.0
#define INSPECT_S 5.0
#define STARTERS_MAX 8         /* container creates in parallel */
#define QUICK_PROBE_MS 50      /* probes of a new container until it first answers */

/* ---- state files: the fence and the accepted orders ---- */

int mc_agent_save_fence(mc_agent *a, mc_err *err) {
    char path[600], text[32];
    snprintf(path, sizeof path, "%s/fence", a->state_dir);
    int n = snprintf(text, sizeof text, "%llu\n", (unsigned long long)a->fence);
    return mc_write_file_atomic(path, text, (size_t)n, err);
}

int mc_agent_save_order(mc_agent *a, const mc_agent_instance *i, mc_err *err) {
    char path[600];
    snprintf(path, sizeof path, "%s/orders/%s.json", a->state_dir, i->order.name);
    return mc_write_file_atomic(path, i->order_json ? i->order_json : "", i->order_json ? strlen(i->order_json) : 0, err);
}

void mc_agent_forget_order(mc_agent *a, const char *name) {
    char path[600];
    snprintf(path, sizeof path, "%s/orders/%s.json", a->state_dir, name);
    unlink(path);
}

/* The state dir's files (an order, the fence) are small; one larger than
 * this is not ours. */
#define STATE_FILE_MAX (256 * 1024)

/* ---- JSON of an instance (contract: heartbeat, GET /v1/instances) ---- */

json_t *mc_agent_instance_json(const mc_agent_instance *i) {
    json_t *sched = json_array();
    for (size_t k = 0; k < i->nschedule; k++) json_array_append_new(sched, json_integer(i->schedule[k]));
    json_t *usage = json_pack("{s:f,s:f,s:I,s:I}", "cpu_seconds", i->usage.cpu_seconds, "cpu_percent",
                              i->cpu_percent, "memory_bytes", (json_int_t)i->usage.memory_bytes, "pids",
                              (json_int_t)i->usage.pids);
    json_t *j = json_pack("{s:s,s:s,s:i,s:s,s:s,s:b,s:b,s:b,s:i,s:i,s:I,s:i,s:s,s:o,s:o}", "name", i->order.name,
                     "service", i->order.service, "index", i->order.index, "container_id",
                     i->container_id, "state", i->state, "ready", i->ready, "healthy", i->healthy, "busy", i->busy,
                     "restarts", i->restarts, "last_exit_code", i->last_exit_code, "spec_version",
                     (json_int_t)i->order.spec_version, "port", i->order.port, "started_at",
                     i->started_at, "restart_schedule_ms", sched, "usage", usage);
    if (j) mc_agent_limits_json(i, j);
    return j;
}

/* ---- the engine side ---- */

static void set_state(mc_agent_instance *i, const char *s) { snprintf(i->state, sizeof i->state, "%s", s); }

/* A container that runs but has not answered a probe yet. */
static bool starting_up(const mc_agent_instance *i) {
    return !i->creating && !i->deleting && i->container_id[0] && i->running && strcmp(i->state, "starting") == 0;
}

static void now_rfc3339(char *out, size_t cap) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The container already under the order's container name: one made from
 * this very order (order.h, mc_agent_container_is_order) is taken, its id
 * in id (1); any other is removed (0, also when there is none). */
static int take_or_clear_name(mc_agent *a, mc_docker *engine, const mc_agent_order *o, const char *name,
                              char *id) {
    mc_docker_container c;
    mc_err err = {0};
    if (mc_docker_inspect(engine, name, &c, &err) < 0) return 0; /* none (or the engine will say so again) */
    bool ours = mc_agent_container_is_order(&c, a->node, o);
    if (ours) snprintf(id, MC_DOCKER_ID_MAX, "%s", c.id);
    mc_log_kv(MC_LOG_INFO, ours ? "taking the container the engine made for this order" :
              "removing an earlier container of the name", "instance", o->name, "id", c.id, "state", c.state, NULL);
    if (!ours) mc_docker_remove(engine, c.id, true, NULL);
    mc_docker_container_clear(&c);
    return ours;
}

/* Creates and starts the order's container on engine; its id in id (also
 * when the start failed, for the caller to remove), the create's and the
 * start's durations in took (ms: the placement's breakdown, logged). */
static int create_container(mc_agent *a, mc_docker *engine, const mc_agent_order *o, char *id, double took[2],
                            mc_err *err) {
    char name[MC_DOCKER_NAME_MAX], version[32], index[16];
    if (mc_agent_container_name(a->node, o, name, sizeof name) < 0)
        return mc_err_set(err, MC_ERR_INVALID, "container name too long");
    snprintf(version, sizeof version, "%lld", o->spec_version);
    snprintf(index, sizeof index, "%d", o->index);
    mc_docker_kv labels[] = {{"mcloud.service", o->service}, {"mcloud.instance", o->name},
                             {"mcloud.node", a->node}, {"mcloud.spec_version", version},
                             {"mcloud.managed", "true"}};
    mc_docker_spec spec = {.image = o->image, .env = o->env, .nenv = o->nenv,
                           .labels = labels, .nlabels = 5, .volumes = o->volumes,
                           .nvolumes = o->nvolumes, .memory_bytes = o->memory_bytes,
                           .nano_cpus = (int64_t)(o->cpus * 1e9), .pids_limit = o->pids,
                           .stop_timeout_s = (int)(o->stop_grace_ms / 1000)};
    double t0 = mc_monotonic_seconds();
    int made = take_or_clear_name(a, engine, o, name, id);
    if (made == 0 && mc_docker_create(engine, name, &spec, id, err) < 0) {
        /* timed out, or "name in use": the engine may have made it anyway */
        if (err->kind != MC_ERR_UNAVAILABLE && err->kind != MC_ERR_CONFLICT) return -1;
        if (take_or_clear_name(a, engine, o, name, id) != 1) return -1;
        mc_err_clear(err);
    }
    double t1 = mc_monotonic_seconds();
    int rc = mc_docker_start(engine, id, err);
    took[0] = (t1 - t0) * 1000, took[1] = (mc_monotonic_seconds() - t1) * 1000;
    return rc;
}

/* The instance's new container runs: probed at once, then every
 * QUICK_PROBE_MS until it first answers (failures still count at the
 * spec's interval only). Lock held. */
static void container_started(mc_agent_instance *i, const char *create_ms, const char *start_ms) {
    double now = mc_monotonic_seconds();
    i->started_mono = now;
    now_rfc3339(i->started_at, sizeof i->started_at);
    i->health_failures = 0;
    i->healthy = i->ready = i->busy = false;
    i->next_check = now + i->order.health.interval_ms / 1000.0;
    i->quick_at = now;
    i->next_inspect = 0; /* inspected next round */
    set_state(i, "starting");
    mc_log_kv(MC_LOG_INFO, "container started", "instance", i->order.name, "id", i->container_id, "create_ms",
              create_ms, "start_ms", start_ms, NULL);
}

/* The supervisor's slow engine calls (a stop waits up to the grace period;
 * an inspect waits for the engine's storage lock while others create) run
 * with a->lock released, so orders are answered and the heartbeat built
 * meanwhile. Safe: only this thread changes the container id of an
 * instance that is not `creating`, and only it frees a slot; a PUT or a
 * DELETE meanwhile only sets flags the next round acts on. */
static void unlocked_begin(mc_agent *a) { pthread_mutex_unlock(&a->lock); }
static void unlocked_end(mc_agent *a) { pthread_mutex_lock(&a->lock); }

/* Closes the probes' kept-alive connections before a container is told to
 * stop: a service drains on SIGTERM until its open connections are gone
 * (common/http.c), and the probe handle's idle one to it kept every stop
 * (each rollout step, each scale-down) waiting out the whole stop grace
 * before the engine's SIGKILL. The other instances' probes reconnect once.
 * Only the supervisor's thread uses the handle. */
static void drop_probe_connections(mc_agent *a) {
    if (a->probe) curl_easy_cleanup(a->probe);
    a->probe = NULL;
}

/* The next restart after a death or an unhealthy verdict. */
static void schedule_restart(mc_agent_instance *i) {
    double now = mc_monotonic_seconds();
    unsigned d = (unsigned)mc_agent_restart_delay(&i->order.restart, &i->restart_window, now,
                                                  (long)mc_backoff_next_ms(&i->backoff));
    if (i->nschedule < MC_AGENT_SCHEDULE_MAX) i->schedule[i->nschedule++] = d;
    else {
        memmove(i->schedule, i->schedule + 1, (MC_AGENT_SCHEDULE_MAX - 1) * sizeof *i->schedule);
        i->schedule[MC_AGENT_SCHEDULE_MAX - 1] = d;
    }
    i->restart_at = now + d / 1000.0;
    set_state(i, "backoff");
}

static size_t discard(char *data, size_t size, size_t n, void *ctx) {
    (void)data, (void)ctx;
    return size * n;
}

/* 1: answered 200, 0: answered otherwise or not at all. One curl handle for
 * every probe of the supervisor's thread, its connection cache sized for
 * every instance: a service that keeps connections alive is probed over the
 * same one each time (no connect per check; 50 containers cost the agent
 * mostly TCP connects before). */
static int probe(mc_agent *a, int port, const char *path, long timeout_ms) {
    if (!a->probe) {
        if (!(a->probe = curl_easy_init())) return 0;
        curl_easy_setopt(a->probe, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(a->probe, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(a->probe, CURLOPT_MAXCONNECTS, (long)MC_AGENT_MAX_INSTANCES);
    }
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(a->probe, CURLOPT_URL, url);
    curl_easy_setopt(a->probe, CURLOPT_TIMEOUT_MS, timeout_ms);
    long status = 0;
    if (curl_easy_perform(a->probe) == CURLE_OK) curl_easy_getinfo(a->probe, CURLINFO_RESPONSE_CODE, &status);
    return status == 200;
}

/* Whether the instance works right now: its order's busy_metric read from
 * its /metrics (> 0: busy), on the probes' handle. Unknown (no answer, no
 * such sample) keeps the last verdict: a busy worker whose scrape timed
 * out is not taken for idle. The orchestrator stops idle instances first
 * on a scale-down (plan.h, mc_scale_victims). */
static int read_busy(mc_agent *a, int port, const char *metric, long timeout_ms) {
    char url[256];
    mc_curl_body body = {.max = 1 << 20};
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    curl_easy_setopt(a->probe, CURLOPT_URL, url);
    curl_easy_setopt(a->probe, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(a->probe, CURLOPT_WRITEFUNCTION, mc_curl_body_write);
    curl_easy_setopt(a->probe, CURLOPT_WRITEDATA, &body);
    long status = 0;
    if (curl_easy_perform(a->probe) == CURLE_OK) curl_easy_getinfo(a->probe, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_setopt(a->probe, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(a->probe, CURLOPT_WRITEDATA, NULL);
    double v;
    int busy = status == 200 && body.p && mc_metrics_scan(body.p, body.len, metric, &v) == 0 ? v > 0 : -1;
    free(body.p);
    return busy;
}

/* The container's cgroup use, kept in the instance and on /metrics; the CPU
 * share is the CPU time's growth over windows of at least a second (the
 * rounds come every few hundred ms: shorter windows would only be noise). */
static void read_usage(mc_agent_instance *i, double now) {
    if (i->pid <= 0 || mc_cgroup_read("/sys/fs/cgroup", i->pid, &i->cgroup, &i->usage) < 0) return;
    if (i->cpu_mark_at <= 0 || i->usage.cpu_seconds < i->cpu_mark) {
        i->cpu_mark = i->usage.cpu_seconds, i->cpu_mark_at = now;
    } else if (now - i->cpu_mark_at >= 1.0) {
        i->cpu_percent = 100.0 * (i->usage.cpu_seconds - i->cpu_mark) / (now - i->cpu_mark_at);
        i->cpu_mark = i->usage.cpu_seconds, i->cpu_mark_at = now;
    }
    char labels[128];
    snprintf(labels, sizeof labels, "instance=\"%s\"", i->order.name);
    mc_gauge_set(mc_gauge("mcloud_agent_container_cpu_seconds", "CPU time used by the instance's container.", labels),
                 i->usage.cpu_seconds);
    mc_gauge_set(mc_gauge("mcloud_agent_container_memory_bytes", "Memory charged to the instance's container.", labels),
                 (double)i->usage.memory_bytes);
    mc_gauge_set(mc_gauge("mcloud_agent_container_pids", "Tasks in the instance's container.", labels),
                 (double)i->usage.pids);
}

/* Asks the engine how the instance's container is: a dead one is removed and
 * its restart scheduled. -1 when the engine could not answer. */
static int inspect(mc_agent *a, mc_agent_instance *i, double now, mc_err *err) {
    mc_docker_container c;
    char id[MC_DOCKER_ID_MAX];
    snprintf(id, sizeof id, "%s", i->container_id);
    i->next_inspect = now + INSPECT_S;
    unlocked_begin(a);
    int rc = mc_docker_inspect(a->engine, id, &c, err);
    unlocked_end(a);
    if (rc < 0) {
        if (err->kind == MC_ERR_NOT_FOUND) { /* removed behind our back */
            i->container_id[0] = '\0';
            i->running = false;
            schedule_restart(i);
        }
        return -1;
    }
    i->running = c.running;
    i->pid = c.pid;
    if (!c.running) {
        i->last_exit_code = c.exit_code;
        i->restarts++;
        i->healthy = i->ready = i->busy = false;
        mc_log_kv(MC_LOG_WARN, "container exited", "instance", i->order.name, "state", c.state, NULL);
        mc_periodic_nudge(a->beat);
        /* its last lines outlive it: `mcloud logs` of a crash loop shows why */
        mc_err lerr = {0};
        if (mc_docker_logs(a->engine, i->container_id, 20, i->last_logs, sizeof i->last_logs, &lerr) < 0)
            i->last_logs[0] = '\0';
        mc_logship_drain(a->logship, a->engine, i->container_id, i->order.service, i->order.name);
        mc_docker_remove(a->engine, i->container_id, true, NULL);
        i->container_id[0] = '\0';
        memset(&i->usage, 0, sizeof i->usage);
        i->cpu_percent = i->cpu_mark = i->cpu_mark_at = 0;
        schedule_restart(i);
    } else if (i->cpu_mark_at <= 0) {
        read_usage(i, now);
    }
    mc_docker_container_clear(&c);
    return 0;
}

/* ---- starters: container creates off the lock ---- */

/* One container create+start, on a thread of its own with its own engine
 * client and its own copy of the order (a PUT may replace the instance's
 * meanwhile: it then marks it replacing, and the supervisor replaces what
 * this made). The instance is `creating` until it ends, which the
 * supervisor leaves alone, so its slot outlives the thread. */
typedef struct starter {
    mc_agent *a;
    mc_agent_instance *i;
    mc_agent_order order;
    char old_id[MC_DOCKER_ID_MAX]; /* a replaced container to stop and remove first, or "" */
    int old_grace_s;
} starter;

/* A replaced container: SIGTERM, its grace, SIGKILL (the engine's stop),
 * then its removal — on the starter, so the supervisor goes on probing the
 * node's other instances meanwhile (on the supervisor's thread, two
 * replacements at once were stopped one after the other and every health
 * check of the node waited for them: a rollout's next step with it). */
static void stop_replaced(mc_docker *engine, const starter *s) {
    mc_err err = {0};
    if (mc_docker_stop(engine, s->old_id, s->old_grace_s, &err) < 0 && err.kind != MC_ERR_NOT_FOUND)
        mc_log_kv(MC_LOG_WARN, "stop failed", "instance", s->order.name, "error", err.msg, NULL);
    /* its last lines, before they go with it */
    mc_logship_drain(s->a->logship, engine, s->old_id, s->order.service, s->order.name);
    mc_docker_remove(engine, s->old_id, true, NULL);
}

static void *starter_main(void *arg) {
    starter *s = arg;
    mc_agent *a = s->a;
    mc_err err = {0};
    char id[MC_DOCKER_ID_MAX] = "", create_ms[32], start_ms[32];
    double took[2] = {0, 0};
    mc_docker *engine = mc_docker_new(a->engine_socket, &err);
    if (engine && s->old_id[0]) stop_replaced(engine, s);
    int rc = engine ? create_container(a, engine, &s->order, id, took, &err) : -1;
    snprintf(create_ms, sizeof create_ms, "%.0f", took[0]);
    snprintf(start_ms, sizeof start_ms, "%.0f", took[1]);
    if (rc < 0 && id[0]) mc_docker_remove(engine, id, true, NULL);
    mc_docker_free(engine);
    pthread_mutex_lock(&a->lock);
    mc_agent_instance *i = s->i;
    i->creating = false;
    if (rc == 0) {
        snprintf(i->container_id, sizeof i->container_id, "%s", id);
        container_started(i, create_ms, start_ms);
    } else {
        mc_log_kv(MC_LOG_ERROR, "container start failed", "instance", i->order.name, "error", err.msg, NULL);
        i->container_id[0] = '\0';
        schedule_restart(i);
    }
    pthread_mutex_unlock(&a->lock);
    mc_agent_order_free(&s->order);
    free(s);
    mc_periodic_nudge(a->loop);
    mc_periodic_nudge(a->beat);
    atomic_fetch_sub(&a->starters, 1); /* last: stop waits for this */
    return NULL;
}

/* Hands the instance's container to a starter (with the container it
 * replaces, if any: the starter stops and removes that one first); at most
 * STARTERS_MAX at a time (the others wait for a later round). Lock held. */
static void start_in_background(mc_agent *a, mc_agent_instance *i) {
    if (atomic_fetch_add(&a->starters, 1) >= STARTERS_MAX || atomic_load(&a->no_starters)) {
        atomic_fetch_sub(&a->starters, 1);
        return;
    }
    mc_err err = {0};
    starter *s = calloc(1, sizeof *s);
    pthread_attr_t attr;
    pthread_t t;
    bool ok = s && i->order_json &&
              mc_agent_order_parse(i->order.name, i->order_json, strlen(i->order_json), &s->order, &err) == 0;
    if (ok) {
        s->a = a, s->i = i;
        if (i->replacing && i->container_id[0]) {
            drop_probe_connections(a); /* the old one drains at once on SIGTERM */
            snprintf(s->old_id, sizeof s->old_id, "%s", i->container_id);
            s->old_grace_s = (int)((i->order.stop_grace_ms + 999) / 1000);
        }
        i->creating = true;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        ok = pthread_create(&t, &attr, starter_main, s) == 0;
        pthread_attr_destroy(&attr);
        if (!ok) {
            i->creating = false;
            mc_agent_order_free(&s->order);
        } else if (i->replacing) { /* the old container is the starter's now */
            i->replacing = false;
            i->container_id[0] = '\0';
            i->running = i->healthy = i->ready = i->busy = false;
            i->term_at = 0, i->killed = false;
            mc_periodic_nudge(a->beat);
        }
    }
    if (!ok) {
        mc_log_kv(MC_LOG_ERROR, "cannot start a container starter", "instance", i->order.name, "error", err.msg, NULL);
        free(s);
        atomic_fetch_sub(&a->starters, 1);
    }
}

void mc_agent_start_now(mc_agent *a, mc_agent_instance *i) {
    if (!i->creating && !i->deleting && !i->replacing && !i->container_id[0]) start_in_background(a, i);
}

/* A deleted instance's stop, a step each round so the supervisor never
 * waits out a grace period (a busy worker may take minutes to finish its
 * job, and every other instance of the node goes on being checked and
 * ordered meanwhile): SIGTERM, then once the container has exited its
 * removal; SIGKILL when the order's stop grace ran out. True when gone. */
static bool stopped(mc_agent *a, mc_agent_instance *i, double now) {
    mc_err err = {0};
    if (!i->container_id[0]) return true;
    char code[16] = "-1", took[32], grace[24];
    if (i->term_at <= 0) {
        drop_probe_connections(a);
        if (mc_docker_kill(a->engine, i->container_id, "TERM", &err) < 0 && err.kind != MC_ERR_NOT_FOUND) {
            mc_log_kv(MC_LOG_WARN, "SIGTERM failed", "instance", i->order.name, "error", err.msg, NULL);
            return false; /* tried again next round */
        }
        i->term_at = now;
        snprintf(grace, sizeof grace, "%ld", (i->order.stop_grace_ms + 999) / 1000);
        mc_log_kv(MC_LOG_INFO, "stopping: SIGTERM sent", "instance", i->order.name, "busy",
                  i->busy ? "true" : "false", "grace_s", grace, NULL);
        return false;
    }
    mc_docker_container c;
    if (mc_docker_inspect(a->engine, i->container_id, &c, &err) == 0) {
        bool running = c.running;
        snprintf(code, sizeof code, "%d", c.exit_code);
        mc_docker_container_clear(&c);
        if (running) {
            if (!i->killed && now - i->term_at >= i->order.stop_grace_ms / 1000.0) {
                mc_log_kv(MC_LOG_WARN, "stop grace over: SIGKILL", "instance", i->order.name, NULL);
                mc_docker_kill(a->engine, i->container_id, "KILL", NULL);
                i->killed = true; /* then wait for the exit */
            }
            return false;
        }
    } else if (err.kind != MC_ERR_NOT_FOUND) {
        return false; /* the engine did not answer: next round */
    }
    snprintf(took, sizeof took, "%.0f", (now - i->term_at) * 1000);
    snprintf(grace, sizeof grace, "%ld", (i->order.stop_grace_ms + 999) / 1000);
    mc_log_kv(MC_LOG_INFO, "container stopped", "instance", i->order.name, "busy", i->busy ? "true" : "false",
              "exit_code", code, "took_ms", took, "grace_s", grace, NULL);
    /* what it said while it drained, before it goes with it */
    mc_logship_drain(a->logship, a->engine, i->container_id, i->order.service, i->order.name);
    mc_docker_remove(a->engine, i->container_id, true, NULL);
    i->container_id[0] = '\0';
    return true;
}

/* One instance, one round; called with the lock held, engine calls included
 * (the API threads only wait for the lock, never for each other). */
static void supervise_one(mc_agent *a, mc_agent_instance *i) {
    mc_err err = {0};
    double now = mc_monotonic_seconds();
    if (i->creating) return; /* its starter's until the container runs */
    if (i->deleting) {
        if (!stopped(a, i, now)) return;
        mc_agent_forget_order(a, i->order.name);
        mc_log_kv(MC_LOG_INFO, "instance stopped", "instance", i->order.name, NULL);
        mc_agent_order_free(&i->order);
        free(i->order_json);
        memset(i, 0, sizeof *i);
        return;
    }
    if (i->replacing) { /* its starter stops the old container, then makes the new one */
        start_in_background(a, i);
        return;
    }
    if (!i->container_id[0]) {
        if (now >= i->restart_at) start_in_background(a, i);
        return;
    }
    unsigned long events = atomic_load(&a->events);
    if (i->events_seen != events || now >= i->next_inspect) {
        if (inspect(a, i, now, &err) < 0) return;
        i->events_seen = events;
    }
    bool running = i->running;
    mc_agent_limits_step(a, i, now);
    if (running && now - i->cpu_mark_at >= 1.0) read_usage(i, now);
    bool due = now >= i->next_check;
    bool quick = starting_up(i) && now >= i->quick_at;
    if (!running || (!due && !quick)) return;
    if (due) i->next_check = now + i->order.health.interval_ms / 1000.0;
    i->quick_at = now + QUICK_PROBE_MS / 1000.0;
    bool was_healthy = i->healthy, was_ready = i->ready;
    /* A ready answer says alive too: one request per check while ready;
     * the health path is asked when the ready path does not answer 200. */
    mc_agent_health h = i->order.health;
    int port = i->order.port;
    unlocked_begin(a); /* a probe may wait up to its timeout */
    bool ready = probe(a, port, h.ready_path, h.timeout_ms);
    bool alive = ready || probe(a, port, h.path, h.timeout_ms);
    int busy = alive && h.busy_metric[0] ? read_busy(a, port, h.busy_metric, h.timeout_ms) : -1;
    unlocked_end(a);
    if (i->deleting || i->replacing) return; /* ordered otherwise meanwhile: the next round acts */
    if (alive) {
        if (strcmp(i->state, "starting") == 0 && i->started_mono > 0) {
            char ms[32];
            snprintf(ms, sizeof ms, "%.0f", (now - i->started_mono) * 1000);
            mc_log_kv(MC_LOG_INFO, "container answers its health check", "instance", i->order.name,
                      "after_start_ms", ms, "ready", ready ? "true" : "false", NULL);
        }
        i->health_failures = 0;
        i->healthy = true;
        mc_backoff_reset(&i->backoff);
        set_state(i, "running");
        if (busy >= 0) i->busy = busy;
    } else if (due && ++i->health_failures >= i->order.health.failures) { /* quick probes never count */
        i->healthy = false;
        set_state(i, "unhealthy");
        mc_log_kv(MC_LOG_WARN, "health check failing: restarting", "instance", i->order.name, NULL);
        mc_docker_kill(a->engine, i->container_id, "KILL", NULL); /* the next round restarts it */
        i->next_inspect = 0;
    }
    i->ready = i->healthy && ready;
    if (i->healthy != was_healthy || i->ready != was_ready) mc_periodic_nudge(a->beat); /* told at once */
}

/* ---- the node heartbeat ---- */

/* The node's heartbeat document; with a->lock held. */
static char *heartbeat_text(mc_agent *a) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    long long mem = (long long)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);
    double used_cpus = 0;
    long long used_mem = 0;
    json_t *arr = json_array();
    for (int k = 0; k < MC_AGENT_MAX_INSTANCES; k++) {
        mc_agent_instance *i = &a->inst[k];
        if (!i->used) continue;
        used_cpus += i->order.cpus;
        used_mem += i->order.memory_bytes;
        json_array_append_new(arr, mc_agent_instance_json(i));
    }
    json_t *doc = json_pack("{s:i,s:s,s:s,s:o,s:{s:f,s:I,s:I},s:{s:f,s:I},s:o,s:I}", "v", 1, "node", a->node,
                            "agent_url", a->url, "labels", json_object(), "capacity", "cpus", (double)ncpu,
                            "memory_bytes", (json_int_t)mem, "pids", (json_int_t)4194304, "free", "cpus",
                            ncpu - used_cpus, "memory_bytes", (json_int_t)(mem - used_mem), "instances", arr,
                            "fence", (json_int_t)a->fence);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return text;
}

/* Every HEARTBEAT_S on a thread of its own, so an engine call that holds
 * the supervisor's lock for long (a create on vfs storage takes seconds)
 * never lets the node's key expire and its instances be rescheduled: when
 * the lock is not free within half a second, the last document is sent
 * again (its TTL renewed, its figures a round old). */
static int heartbeat_step(void *ctx) {
    mc_agent *a = ctx;
    struct timespec until = mc_deadline_after_ms(CLOCK_REALTIME, 500);
    if (pthread_mutex_timedlock(&a->lock, &until) == 0) {
        char *fresh = heartbeat_text(a);
        pthread_mutex_unlock(&a->lock);
        if (fresh) {
            free(a->beat_text);
            a->beat_text = fresh;
        }
    }
    if (!a->beat_text) return 0;
    char key[160];
    snprintf(key, sizeof key, "%s:node:%s", a->key_prefix, a->node);
    mc_err err = {0};
    redisReply *r = mc_redis_command(a->svc.redis, &err, "SET %s %s EX 10", key, a->beat_text);
    if (r) freeReplyObject(r);
    else mc_log_kv(MC_LOG_WARN, "node heartbeat failed", "error", err.msg, NULL);
    return 0;
}

/* A round every ROUND_MS; every QUICK_PROBE_MS while a new container has
 * not answered its first probe yet (its quick probes). Idle instances to
 * stop go first: a busy one's stop may take its whole grace (its job
 * finishing). */
static int round_step(void *ctx) {
    mc_agent *a = ctx;
    bool quick = false;
    pthread_mutex_lock(&a->lock);
    for (int k = 0; k < MC_AGENT_MAX_INSTANCES; k++)
        if (a->inst[k].used && a->inst[k].deleting && !a->inst[k].busy) supervise_one(a, &a->inst[k]);
    for (int k = 0; k < MC_AGENT_MAX_INSTANCES; k++)
        if (a->inst[k].used) {
            supervise_one(a, &a->inst[k]);
            quick |= a->inst[k].used && starting_up(&a->inst[k]);
        }
    pthread_mutex_unlock(&a->lock);
    if (!quick) return 0;
    usleep(QUICK_PROBE_MS * 1000);
    return 1;
}

/* ---- start: fence, adoption ---- */

static void load_fence(mc_agent *a) {
    char path[600];
    size_t len;
    snprintf(path, sizeof path, "%s/fence", a->state_dir);
    char *text = mc_read_file(path, STATE_FILE_MAX, &len, NULL);
    if (text) a->fence = strtoull(text, NULL, 10);
    free(text);
}

/* Adopts the running containers of this node: each keeps running under the
 * order it was made from (kept in the state dir); one without an order, or
 * not running, is removed. */
static int adopt(mc_agent *a, mc_err *err) {
    char node_label[128];
    snprintf(node_label, sizeof node_label, "mcloud.node=%s", a->node);
    const char *labels[] = {"mcloud.managed=true", node_label};
    mc_docker_container *list;
    size_t n;
    if (mc_docker_list(a->engine, labels, 2, &list, &n, err) < 0) return -1;
    for (size_t k = 0; k < n; k++) {
        const char *name = json_string_value(json_object_get(list[k].labels, "mcloud.instance"));
        char path[600];
        size_t len = 0;
        snprintf(path, sizeof path, "%s/orders/%s.json", a->state_dir, name ? name : "-");
        char *body = name && list[k].running ? mc_read_file(path, STATE_FILE_MAX, &len, NULL) : NULL;
        mc_agent_instance *i = NULL;
        for (int s = 0; s < MC_AGENT_MAX_INSTANCES && !i; s++)
            if (!a->inst[s].used) i = &a->inst[s];
        mc_err perr = {0};
        if (!body || !i || mc_agent_order_parse(name, body, len, &i->order, &perr) < 0) {
            mc_log_kv(MC_LOG_WARN, "removing a container it cannot adopt", "name", list[k].name, NULL);
            mc_docker_remove(a->engine, list[k].id, true, NULL);
            free(body);
            continue;
        }
        i->used = true;
        i->order_json = body;
        snprintf(i->container_id, sizeof i->container_id, "%s", list[k].id);
        mc_docker_container c;
        if (mc_docker_inspect(a->engine, list[k].id, &c, &perr) == 0) {
            snprintf(i->started_at, sizeof i->started_at, "%.39s", c.started_at);
            i->pid = c.pid;
            mc_docker_container_clear(&c);
        }
        i->last_exit_code = -1;
        i->limits_pending = true; /* podman does not persist a live update: apply the order's limits again */
        mc_backoff_init(&i->backoff, (unsigned)i->order.restart.delay_ms, (unsigned)i->order.restart.max_delay_ms);
        set_state(i, "starting");
        mc_log_kv(MC_LOG_INFO, "adopted a running container", "instance", name, "id", list[k].id, NULL);
    }
    mc_docker_containers_free(list, n);
    return 0;
}

/* ---- the engine's event stream ---- */

/* An event of one of this node's containers makes the next round inspect
 * that container only (with 50 containers starting, inspecting every one
 * on every event kept the supervisor busy for minutes); an event that
 * names no container we know of, all of them. */
static int on_event(const mc_docker_event *ev, void *arg) {
    mc_agent *a = arg;
    if (ev) {
        bool known = false;
        pthread_mutex_lock(&a->lock);
        for (int k = 0; k < MC_AGENT_MAX_INSTANCES && ev->id[0] && !known; k++) {
            mc_agent_instance *i = &a->inst[k];
            if (i->used && i->container_id[0] && strcmp(i->container_id, ev->id) == 0) {
                i->next_inspect = 0;
                known = true;
            }
        }
        pthread_mutex_unlock(&a->lock);
        /* an id not recorded (yet) is a starter's container, which it
         * hands over to be inspected anyway, or not ours */
        if (!known && !ev->id[0]) atomic_fetch_add(&a->events, 1);
        mc_periodic_nudge(a->loop);
    }
    return atomic_load(&a->events_stop);
}

/* Follows the events of this node's containers for as long as the agent
 * runs; each one makes the next round inspect. After a broken stream every
 * container is inspected (what happened meanwhile was not seen). */
static void *follow_events(void *arg) {
    mc_agent *a = arg;
    char node_label[128];
    snprintf(node_label, sizeof node_label, "mcloud.node=%s", a->node);
    const char *labels[] = {"mcloud.managed=true", node_label};
    while (!atomic_load(&a->events_stop)) {
        mc_err err = {0};
        if (mc_docker_events(a->events_engine, labels, 2, 0, on_event, a, &err) < 0) {
            mc_log_kv(MC_LOG_WARN, "engine event stream lost, following it again", "error", err.msg, NULL);
            for (int k = 0; k < 10 && !atomic_load(&a->events_stop); k++) usleep(100 * 1000);
        }
        atomic_fetch_add(&a->events, 1);
        mc_periodic_nudge(a->loop);
    }
    return NULL;
}

int mc_agent_supervise_start(mc_agent *a, mc_err *err) {
    char orders[600];
    snprintf(orders, sizeof orders, "%s/orders", a->state_dir);
    if ((mkdir(a->state_dir, 0700) < 0 && errno != EEXIST) || (mkdir(orders, 0700) < 0 && errno != EEXIST))
        return mc_err_set(err, MC_ERR_INTERNAL, "cannot make %s: %s", orders, strerror(errno));
    load_fence(a);
    a->engine = mc_docker_new(a->engine_socket, err);
    if (!a->engine) return -1;
    if (mc_docker_ping(a->engine, err) < 0) return mc_err_wrap(err, "container engine");
    if (adopt(a, err) < 0) return -1;
    if (!(a->logship = mc_logship_start(a, err))) return -1;
    a->beat = mc_periodic_start("agent-heartbeat", (long)(HEARTBEAT_S * 1000), heartbeat_step, a, err);
    if (!a->beat) return -1;
    a->loop = mc_periodic_start("agent-supervise", ROUND_MS, round_step, a, err);
    if (!a->loop) return -1;
    a->events_engine = mc_docker_new(a->engine_socket, err);
    if (!a->events_engine) return -1;
    atomic_store(&a->events_stop, false);
    if (pthread_create(&a->events_thread, NULL, follow_events, a) != 0)
        return mc_err_set(err, MC_ERR_INTERNAL, "cannot start the event follower");
    a->events_started = true;
    return 0;
}

void mc_agent_supervise_stop(mc_agent *a) {
    atomic_store(&a->no_starters, true); /* the starters nudge the loop and the beat: they end first */
    while (atomic_load(&a->starters) > 0) usleep(10 * 1000);
    mc_periodic_stop(a->beat);
    a->beat = NULL;
    free(a->beat_text);
    a->beat_text = NULL;
    if (a->events_started) { /* ends within about a second (the stream's idle call) */
        atomic_store(&a->events_stop, true);
        pthread_join(a->events_thread, NULL);
        a->events_started = false;
    }
    mc_docker_free(a->events_engine);
    a->events_engine = NULL;
    mc_periodic_stop(a->loop);
    a->loop = NULL;
    mc_logship_stop(a->logship); /* after the loop: it drains containers it removes */
    a->logship = NULL;
    mc_docker_free(a->engine);
    a->engine = NULL;
    drop_probe_connections(a);
}
