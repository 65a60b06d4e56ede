/* main.c — mcloud-edge: keeps a local nginx load-balancing the public
 * services (upload, stream, api) over their ready instances.
 *
 * Every edge.interval_ms it lists each service's instances from the Redis
 * registry (mcloud:svc:<service>:* — every daemon registers itself, as a
 * plain process or inside a container) and from the node agents'
 * heartbeats (<prefix>:node:*, instances running, healthy and ready),
 * probes their /readyz in parallel, reads the public ports the spec gives
 * the services (<prefix>:orch:public_ports, kept there by the active
 * orchestrator; a service without one listens on edge.<service>_port),
 * renders nginx.conf (edge/conf.c) and,
 * only when the text changed, tests it with `nginx -t`, moves it in place
 * and reloads nginx (SIGHUP), or starts nginx when none runs. An instance
 * leaves the upstreams after edge.probe_failures failed probes in a row
 * and comes back at its first good one; the edge never restarts anything
 * (the agent does, on /healthz). While Redis cannot be read the upstreams
 * stay as they are: nginx keeps serving the instances it has. Without
 * edge.tls_cert it makes a local CA and certificate once (<dir>/tls/ca.pem
 * is what clients trust).
 * GET /v1/upstreams shows what nginx runs with. SIGTERM stops nginx too
 * (edge.stop_nginx); a crash leaves it serving, and a restarted mcloud-edge
 * adopts it (<dir>/nginx.pid). */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <pwd.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/daemon.h"
#include "common/dirs.h"
#include "common/fdio.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/periodic.h"
#include "common/registry.h"
#include "common/service.h"
#include "edge/edge.h"
#include "edge/nginx.h"

typedef struct tracked {          /* an instance in the upstreams and its failed probes */
    char addr[MC_EDGE_ADDR_MAX];
    int fails;
} tracked;

static const char *const SERVICES[] = {"upload", "stream", "api"};
#define NSERVICES 3
/* The nginx.conf it writes is a few KiB; a larger file in its place is not its own. */
#define EDGE_CONF_MAX (4 * 1024 * 1024)

typedef struct edge {
    mc_service svc;
    pthread_mutex_t lock;         /* guards conf, applied, reloads, healthy */
    mc_edge_conf conf;            /* backends: what nginx runs with */
    char *applied;                /* the nginx.conf text in place */
    long reloads;
    bool healthy;                 /* nginx runs with the last configuration */
    char nginx_bin[256], openssl_bin[256], tls_names[512], key_prefix[64];
    char conf_path[MC_EDGE_PATH_MAX + 32];
    char ca_path[MC_EDGE_PATH_MAX + 16]; /* the generated CA ("" with the operator's certificate) */
    long interval_ms, probe_timeout_ms, probe_failures;
    bool stop_nginx;
    tracked in[NSERVICES][MC_EDGE_MAX_BACKENDS]; /* per service, only the loop thread */
    int nin[NSERVICES];
    bool registry_down;           /* the last round could not read Redis */
    int config_port[NSERVICES];   /* edge.<service>_port: where a service the spec gives no public port listens */
    mc_periodic *loop;
} edge;


/* ---- settings -------------------------------------------------------------- */

static bool path_valid(const char *p) {
    return p[0] == '/' && strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+") == strlen(p);
}

static int read_port(mc_config *cfg, const char *name, int *out, mc_err *err) {
    long v;
    if (mc_config_int(cfg, name, 0, 65535, &v, err) < 0) return -1;
    *out = (int)v;
    return 0;
}

static int read_settings(edge *e, mc_err *err) {
    mc_config *cfg = e->svc.config;
    mc_edge_conf *c = &e->conf;
    if (mc_config_copy(cfg, "edge.dir", c->dir, sizeof c->dir, err) < 0 ||
        mc_config_copy(cfg, "edge.bind", c->bind, sizeof c->bind, err) < 0 ||
        mc_config_copy(cfg, "edge.tls_cert", c->cert, sizeof c->cert, err) < 0 ||
        mc_config_copy(cfg, "edge.tls_key", c->key, sizeof c->key, err) < 0 ||
        mc_config_copy(cfg, "edge.tls_names", e->tls_names, sizeof e->tls_names, err) < 0 ||
        mc_config_copy(cfg, "edge.nginx", e->nginx_bin, sizeof e->nginx_bin, err) < 0 ||
        mc_config_copy(cfg, "edge.openssl", e->openssl_bin, sizeof e->openssl_bin, err) < 0 ||
        mc_config_copy(cfg, "orchestrator.key_prefix", e->key_prefix, sizeof e->key_prefix, err) < 0 ||
        mc_config_int(cfg, "edge.interval_ms", 100, 600000, &e->interval_ms, err) < 0 ||
        mc_config_int(cfg, "edge.probe_timeout_ms", 50, 60000, &e->probe_timeout_ms, err) < 0 ||
        mc_config_int(cfg, "edge.probe_failures", 1, 100, &e->probe_failures, err) < 0 ||
        mc_config_bool(cfg, "edge.stop_nginx", &e->stop_nginx, err) < 0)
        return -1;
    if (!c->dir[0]) {
        const char *home = getenv("MCLOUD_HOME");
        snprintf(c->dir, sizeof c->dir, "%s/edge", home && home[0] ? home : "/tmp/mcloud");
    }
    if (!path_valid(c->dir))
        return mc_err_set(err, MC_ERR_INVALID, "edge.dir: an absolute path of letters, digits and /._-+ only (got '%s')", c->dir);
    if (strspn(c->bind, "0123456789.abcdefghijklmnopqrstuvwxyz-:[]") != strlen(c->bind) || !c->bind[0])
        return mc_err_set(err, MC_ERR_INVALID, "edge.bind: '%s' is not an address", c->bind);
    if ((c->cert[0] != 0) != (c->key[0] != 0))
        return mc_err_set(err, MC_ERR_INVALID, "edge.tls_cert and edge.tls_key go together (one is empty)");
    if (c->cert[0] && (!path_valid(c->cert) || !path_valid(c->key)))
        return mc_err_set(err, MC_ERR_INVALID, "edge.tls_cert/edge.tls_key: absolute paths of letters, digits and /._-+ only");
    if (strspn(e->tls_names, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:,-*") != strlen(e->tls_names))
        return mc_err_set(err, MC_ERR_INVALID, "edge.tls_names: a subjectAltName list such as DNS:localhost,IP:127.0.0.1");
    c->nservices = NSERVICES;
    for (int i = 0; i < NSERVICES; i++) {
        mc_edge_service *s = &c->services[i];
        char name[64];
        snprintf(s->name, sizeof s->name, "%s", SERVICES[i]);
        snprintf(name, sizeof name, "edge.%s_port", SERVICES[i]);
        if (read_port(cfg, name, &s->http_port, err) < 0) return -1;
        e->config_port[i] = s->http_port;
        snprintf(name, sizeof name, "edge.%s_https_port", SERVICES[i]);
        if (read_port(cfg, name, &s->https_port, err) < 0) return -1;
    }
    if (geteuid() == 0) { /* nginx would run its workers as nobody, who cannot read <dir>/tmp */
        struct passwd *pw = getpwuid(geteuid());
        struct group *gr = getgrgid(getegid());
        snprintf(c->user, sizeof c->user, "%s", pw ? pw->pw_name : "root");
        snprintf(c->group, sizeof c->group, "%s", gr ? gr->gr_name : "root");
    }
    snprintf(e->conf_path, sizeof e->conf_path, "%s/nginx.conf", c->dir);
    return 0;
}

static int prepare_dirs(edge *e, mc_err *err) {
    char tmp[MC_EDGE_PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s/tmp/", e->conf.dir);
    if (mc_mkdir_parents(tmp, err) < 0) return mc_err_wrap(err, "edge.dir");
    if (e->conf.cert[0]) return 0;
    char tls[MC_EDGE_PATH_MAX - 16];
    if ((size_t)snprintf(tls, sizeof tls, "%s/tls", e->conf.dir) >= sizeof tls)
        return mc_err_set(err, MC_ERR_INVALID, "edge.dir: too long");
    if (mc_edge_self_signed(e->openssl_bin, tls, e->tls_names, err) < 0) return mc_err_wrap(err, "self-signed certificate");
    snprintf(e->conf.cert, sizeof e->conf.cert, "%s/cert.pem", tls);
    snprintf(e->conf.key, sizeof e->conf.key, "%s/key.pem", tls);
    snprintf(e->ca_path, sizeof e->ca_path, "%s/ca.pem", tls);
    mc_log_kv(MC_LOG_INFO, "HTTPS with a self-signed certificate for local use", "ca", tls, NULL);
    return 0;
}

/* ---- one round --------------------------------------------------------------- */

static int add_registry(edge *e, mc_edge_service *s, mc_err *err) {
    mc_service_instance *list = NULL;
    size_t n = 0;
    if (mc_registry_list(e->svc.redis, s->name, &list, &n, err) < 0) return -1;
    for (size_t i = 0; i < n; i++) {
        char addr[MC_EDGE_ADDR_MAX];
        mc_err bad = {0};
        if (mc_edge_backend_from_url(list[i].address, addr, sizeof addr, &bad) < 0)
            mc_log_kv(MC_LOG_WARN, "ignoring a registry entry", "public_service", s->name, "instance", list[i].instance,
                      "error", bad.msg, NULL);
        else if (!mc_edge_backend_add(s, addr))
            mc_log_kv(MC_LOG_WARN, "too many instances; ignoring the rest", "public_service", s->name, NULL);
    }
    free(list);
    return 0;
}

typedef struct heartbeat_scan {
    edge *e;
    mc_edge_service *svcs;
} heartbeat_scan;

/* One SCAN page of node heartbeat keys: one MGET, each heartbeat parsed
 * once for every service; a key that expired since the SCAN is nil. */
static int add_heartbeat_page(void *ctx, const redisReply *keys, mc_err *err) {
    heartbeat_scan *hs = ctx;
    redisReply *values = mc_redis_mget(hs->e->svc.redis, keys, err);
    if (!values) return -1;
    for (size_t k = 0; k < keys->elements; k++) {
        const redisReply *v = values->element[k];
        mc_err bad = {0};
        if (v->type == REDIS_REPLY_STRING && mc_edge_backends_from_heartbeat(v->str, v->len, hs->svcs, NSERVICES, &bad) < 0)
            mc_log_kv(MC_LOG_WARN, "ignoring a node heartbeat", "key", keys->element[k]->str, "error", bad.msg, NULL);
    }
    freeReplyObject(values);
    return 0;
}

/* Instances the agents report running, healthy and ready. */
static int add_heartbeats(edge *e, mc_edge_service *svcs, mc_err *err) {
    char pattern[96];
    snprintf(pattern, sizeof pattern, "%s:node:*", e->key_prefix);
    if (mc_redis_scan(e->svc.redis, pattern, add_heartbeat_page, &(heartbeat_scan){e, svcs}, err) < 0)
        return mc_err_wrap(err, "node heartbeats");
    return 0;
}

/* The public ports the spec gives the services, which the active
 * orchestrator keeps at <prefix>:orch:public_ports ({"v":1,"ports":
 * {"upload":18081,...}}): a service the spec names listens on its port
 * there, any other on its edge.<service>_port. A document that cannot be
 * read leaves the ports as they are. */
static void spec_ports(edge *e, mc_edge_conf *next) {
    char key[128];
    snprintf(key, sizeof key, "%s:orch:public_ports", e->key_prefix);
    mc_err err = {0};
    redisReply *r = mc_redis_command(e->svc.redis, &err, "GET %s", key);
    if (!r) return; /* the next round tries again */
    json_t *doc = NULL, *ports = NULL;
    if (r->type == REDIS_REPLY_STRING) {
        doc = json_loadb(r->str, r->len, 0, NULL);
        ports = json_object_get(doc, "ports");
        if (!json_is_object(ports)) {
            mc_log_kv(MC_LOG_WARN, "the spec's public ports are not readable; the edge keeps its ports", "key", key, NULL);
            freeReplyObject(r);
            json_decref(doc);
            return;
        }
    }
    freeReplyObject(r);
    for (int i = 0; i < NSERVICES; i++) {
        json_t *p = json_object_get(ports, SERVICES[i]);
        json_int_t v = json_is_integer(p) ? json_integer_value(p) : 0;
        int port = v >= 1 && v <= 65535 ? (int)v : e->config_port[i];
        if (port != next->services[i].http_port) {
            char text[16];
            snprintf(text, sizeof text, "%d", port);
            mc_log_kv(MC_LOG_INFO, "public port", "service", SERVICES[i], "port", text, "from",
                      port == (int)v ? "the spec" : "edge settings", NULL);
        }
        next->services[i].http_port = port;
    }
    json_decref(doc);
}

static size_t discard(char *p, size_t size, size_t n, void *ctx) {
    (void)p;
    (void)ctx;
    return size * n;
}

/* GET /readyz of every candidate at once; ok[i][j] for services[i].backends[j]. */
static void probe_all(edge *e, const mc_edge_service *svcs, bool ok[][MC_EDGE_MAX_BACKENDS]) {
    CURLM *m = curl_multi_init();
    CURL *h[NSERVICES][MC_EDGE_MAX_BACKENDS] = {{0}};
    for (int i = 0; i < NSERVICES; i++)
        for (int j = 0; j < svcs[i].n; j++) {
            char url[MC_EDGE_ADDR_MAX + 32];
            snprintf(url, sizeof url, "http://%s/readyz", svcs[i].backends[j]);
            CURL *c = curl_easy_init();
            ok[i][j] = false;
            if (!c) continue;
            curl_easy_setopt(c, CURLOPT_URL, url);
            curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, e->probe_timeout_ms);
            curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
            curl_multi_add_handle(m, c);
            h[i][j] = c;
        }
    int running = 1;
    while (running) {
        if (curl_multi_perform(m, &running) != CURLM_OK) break;
        if (running) curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    for (int i = 0; i < NSERVICES; i++)
        for (int j = 0; j < svcs[i].n; j++) {
            if (!h[i][j]) continue;
            long status = 0;
            curl_easy_getinfo(h[i][j], CURLINFO_RESPONSE_CODE, &status);
            ok[i][j] = status == 200;
            curl_multi_remove_handle(m, h[i][j]);
            curl_easy_cleanup(h[i][j]);
        }
    curl_multi_cleanup(m);
}

/* The ready set of service i: passed this probe, or in the upstreams and
 * failed fewer than probe_failures times in a row. */
static void choose(edge *e, int i, const mc_edge_service *cand, const bool *ok, mc_edge_service *out) {
    tracked next[MC_EDGE_MAX_BACKENDS];
    int nn = 0;
    out->n = 0;
    for (int j = 0; j < cand->n; j++) {
        int fails = -1;
        for (int k = 0; k < e->nin[i]; k++)
            if (strcmp(e->in[i][k].addr, cand->backends[j]) == 0) fails = e->in[i][k].fails;
        if (ok[j]) fails = 0;
        else if (fails >= 0) fails++;
        if (fails < 0 || fails >= e->probe_failures) continue;
        snprintf(next[nn].addr, sizeof next[nn].addr, "%s", cand->backends[j]);
        next[nn++].fails = fails;
        mc_edge_backend_add(out, cand->backends[j]);
    }
    memcpy(e->in[i], next, sizeof next[0] * (size_t)nn);
    e->nin[i] = nn;
    mc_edge_backends_normalize(out);
}

static int write_file(const char *path, const char *text, mc_err *err) {
    FILE *f = fopen(path, "w");
    if (!f) return mc_err_set(err, MC_ERR_INTERNAL, "cannot write %s: %s", path, strerror(errno));
    bool ok = fputs(text, f) >= 0;
    ok = (fclose(f) == 0) && ok;
    return ok ? 0 : mc_err_set(err, MC_ERR_INTERNAL, "cannot write %s", path);
}

/* nginx -t on the new text, then in place, then reload or start. */
static int apply(edge *e, const char *text, bool running, mc_err *err) {
    char next[MC_EDGE_PATH_MAX + 40];
    snprintf(next, sizeof next, "%s/nginx.conf.next", e->conf.dir);
    if (write_file(next, text, err) < 0 || mc_nginx_test(e->nginx_bin, e->conf.dir, next, err) < 0) return -1;
    if (rename(next, e->conf_path) < 0)
        return mc_err_set(err, MC_ERR_INTERNAL, "cannot move %s in place: %s", next, strerror(errno));
    return running ? mc_nginx_reload(e->conf.dir, err) : mc_nginx_start(e->nginx_bin, e->conf.dir, e->conf_path, err);
}

static void log_change(const mc_edge_conf *c) {
    for (int i = 0; i < c->nservices; i++) {
        char list[1024] = "";
        size_t n = 0;
        for (int j = 0; j < c->services[i].n && n < sizeof list; j++)
            n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", j ? " " : "", c->services[i].backends[j]);
        mc_log_kv(MC_LOG_INFO, "edge upstreams", "public_service", c->services[i].name, "ready", list, NULL);
    }
}

static int round_step(void *ctx) {
    edge *e = ctx;
    static mc_edge_service cand[NSERVICES];
    static bool ok[NSERVICES][MC_EDGE_MAX_BACKENDS];
    mc_err err = {0};
    int rc = 0;
    for (int i = 0; rc == 0 && i < NSERVICES; i++) {
        memset(&cand[i], 0, sizeof cand[i]);
        snprintf(cand[i].name, sizeof cand[i].name, "%s", SERVICES[i]);
        rc = add_registry(e, &cand[i], &err);
    }
    if (rc == 0) rc = add_heartbeats(e, cand, &err);
    if (rc < 0) { /* Redis unreachable: nginx keeps the instances it has */
        if (!e->registry_down)
            mc_log_kv(MC_LOG_WARN, "cannot read the registry; the edge keeps its upstreams", "error", err.msg, NULL);
        e->registry_down = true;
        return -1;
    }
    if (e->registry_down) mc_log(MC_LOG_INFO, "registry readable again");
    e->registry_down = false;
    probe_all(e, cand, ok);
    mc_edge_conf next = e->conf;
    spec_ports(e, &next);
    for (int i = 0; i < NSERVICES; i++) {
        choose(e, i, &cand[i], ok[i], &next.services[i]);
        char labels[64];
        snprintf(labels, sizeof labels, "service=\"%s\"", SERVICES[i]);
        mc_gauge_set(mc_gauge("mcloud_edge_backends", "Ready instances in the edge's upstreams.", labels),
                     next.services[i].n);
    }
    char *text = mc_edge_render(&next);
    if (!text) return -1;
    bool running = mc_nginx_pid(e->conf.dir) > 0;
    pthread_mutex_lock(&e->lock);
    bool same = running && e->applied && strcmp(e->applied, text) == 0;
    if (same) { /* nothing to do (also an adopted nginx already running this text) */
        e->conf = next;
        e->healthy = true;
    }
    pthread_mutex_unlock(&e->lock);
    if (same) {
        free(text);
        return 0;
    }
    rc = apply(e, text, running, &err);
    pthread_mutex_lock(&e->lock);
    if (rc == 0) {
        free(e->applied);
        e->applied = text;
        e->conf = next;
        e->reloads++;
        e->healthy = true;
    } else {
        e->healthy = running; /* the old configuration still serves */
        free(text);
    }
    pthread_mutex_unlock(&e->lock);
    if (rc < 0) {
        mc_counter_inc(mc_counter("mcloud_edge_reload_failures_total", "Configurations nginx refused or could not load.", NULL));
        mc_log_kv(MC_LOG_ERROR, "nginx configuration not applied", "error", err.msg, NULL);
        return -1;
    }
    mc_counter_inc(mc_counter("mcloud_edge_reloads_total", "nginx reloads (or starts) with new upstreams.", NULL));
    log_change(&next);
    return 0;
}

/* ---- HTTP ---------------------------------------------------------------------- */

static enum MHD_Result get_upstreams(mc_http_req *req, const char *data, size_t *size) {
    (void)data;
    (void)size;
    edge *e = req->route_ctx;
    json_t *svcs = json_object();
    pthread_mutex_lock(&e->lock);
    for (int i = 0; i < e->conf.nservices; i++) {
        const mc_edge_service *s = &e->conf.services[i];
        json_t *list = json_array();
        for (int j = 0; j < s->n; j++) json_array_append_new(list, json_string(s->backends[j]));
        json_object_set_new(svcs, s->name, json_pack("{s:i,s:i,s:o}", "http_port", s->http_port, "https_port",
                                                     e->conf.cert[0] ? s->https_port : 0, "backends", list));
    }
    json_t *body = json_pack("{s:o,s:i,s:i,s:s,s:s}", "services", svcs, "reloads", (int)e->reloads, "nginx_pid",
                             (int)mc_nginx_pid(e->conf.dir), "dir", e->conf.dir, "ca", e->ca_path);
    /* ca: the file clients trust (curl --cacert); "" with the operator's certificate */
    pthread_mutex_unlock(&e->lock);
    return mc_http_send_json(req, 200, body);
}

static int edge_ready(void *ctx, mc_err *err) {
    edge *e = ctx;
    pthread_mutex_lock(&e->lock);
    bool healthy = e->healthy;
    pthread_mutex_unlock(&e->lock);
    if (!healthy) return mc_err_set(err, MC_ERR_UNAVAILABLE, "nginx is not running with the edge's configuration");
    if (mc_nginx_pid(e->conf.dir) <= 0) return mc_err_set(err, MC_ERR_UNAVAILABLE, "nginx is not running");
    return 0;
}

/* A running nginx (adopted after a restart) keeps its configuration until
 * the first round finds a different one. */
static void adopt(edge *e) {
    if (mc_nginx_pid(e->conf.dir) <= 0) return;
    size_t len;
    e->applied = mc_read_file(e->conf_path, EDGE_CONF_MAX, &len, NULL);
    if (!e->applied) return;
    mc_log_kv(MC_LOG_INFO, "adopting the running nginx", "dir", e->conf.dir, NULL);
}

static int run(edge *e, mc_err *err) {
    mc_service_options opt = {.name = "edge", .port_setting = "edge.port", .ready = edge_ready, .ready_ctx = e,
                              .stop_grace_ms = 1000};
    if (mc_service_init(&e->svc, &opt, err) < 0 || read_settings(e, err) < 0 || prepare_dirs(e, err) < 0)
        return -1;
    adopt(e);
    if (mc_http_route(e->svc.http, "GET", "/v1/upstreams", get_upstreams, e) < 0)
        return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    e->loop = mc_periodic_start("edge", e->interval_ms, round_step, e, err);
    if (!e->loop) return -1;
    mc_log_kv(MC_LOG_INFO, "edge running", "dir", e->conf.dir, "nginx", e->nginx_bin, NULL);
    return mc_service_serve(&e->svc, err);
}

int main(void) {
    mc_daemon_block_signals();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    static edge e;
    pthread_mutex_init(&e.lock, NULL);
    mc_err err = {0};
    int rc = run(&e, &err);
    if (rc < 0) mc_log_kv(MC_LOG_ERROR, "mcloud-edge failed", "error", err.msg, NULL);
    mc_periodic_stop(e.loop);
    if (e.stop_nginx && e.conf.dir[0] && mc_nginx_pid(e.conf.dir) > 0) {
        mc_log(MC_LOG_INFO, "stopping nginx");
        mc_nginx_stop(e.conf.dir, 5000);
    }
    if (e.svc.http) mc_http_stop(e.svc.http, 0);
    mc_service_free(&e.svc);
    free(e.applied);
    curl_global_cleanup();
    return rc < 0 ? 1 : 0;
}
