/* http.c — the libmicrohttpd server base shared by every daemon (see http.h). */
#include "common/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "common/metrics.h"

typedef struct route {
    char *method;
    char *pattern;
    size_t prefix_len;   /* > 0 when the pattern ends with '*' */
    mc_http_handler handler;
    void *ctx;
    struct route *next;
} route;

struct mc_http_server {
    mc_http_options opt;
    char service[64];
    char bind[64];
    struct MHD_Daemon *daemon;
    route *routes;
    route **routes_tail;
    int port;
};

static enum MHD_Result handle_healthz(mc_http_req *req, const char *data, size_t *size);
static enum MHD_Result handle_readyz(mc_http_req *req, const char *data, size_t *size);
static enum MHD_Result handle_metrics(mc_http_req *req, const char *data, size_t *size);

mc_http_server *mc_http_new(const mc_http_options *opt) {
    mc_http_server *srv = calloc(1, sizeof *srv);
    if (!srv) return NULL;
    srv->opt = *opt;
    snprintf(srv->service, sizeof srv->service, "%s", opt->service ? opt->service : "mcloud");
    snprintf(srv->bind, sizeof srv->bind, "%s", opt->bind ? opt->bind : "127.0.0.1");
    srv->routes_tail = &srv->routes;
    if (mc_http_route(srv, "GET", "/healthz", handle_healthz, srv) < 0 ||
        mc_http_route(srv, "GET", "/readyz", handle_readyz, srv) < 0 ||
        mc_http_route(srv, "GET", "/metrics", handle_metrics, srv) < 0) {
        mc_http_free(srv);
        return NULL;
    }
    return srv;
}

int mc_http_route(mc_http_server *srv, const char *method, const char *pattern,
                  mc_http_handler handler, void *ctx) {
    route *r = calloc(1, sizeof *r);
    if (!r) return -1;
    r->method = strdup(method);
    r->pattern = strdup(pattern);
    size_t n = strlen(pattern);
    r->prefix_len = (n > 0 && pattern[n - 1] == '*') ? n - 1 : 0;
    r->handler = handler;
    r->ctx = ctx;
    *srv->routes_tail = r;
    srv->routes_tail = &r->next;
    return 0;
}

static bool route_matches_path(const route *r, const char *path) {
    if (r->prefix_len) return strncmp(path, r->pattern, r->prefix_len) == 0;
    return strcmp(path, r->pattern) == 0;
}

/* Finds the route for path; *path_known tells whether a route of that path
 * accepts the method, so the caller can tell 404 from 405. */
static route *find_route(mc_http_server *srv, const char *method, const char *path,
                         bool *path_known) {
    *path_known = false;
    for (route *r = srv->routes; r; r = r->next) {
        if (!route_matches_path(r, path)) continue;
        *path_known = true;
        if (strcmp(r->method, "*") == 0 || strcmp(r->method, method) == 0) return r;
        if (strcmp(r->method, "GET") == 0 && strcmp(method, "HEAD") == 0) return r;
    }
    return NULL;
}

const char *mc_http_header(mc_http_req *req, const char *name) {
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *mc_http_query(mc_http_req *req, const char *name) {
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

enum MHD_Result mc_http_queue(mc_http_req *req, unsigned int status, struct MHD_Response *resp) {
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    const char *const *extra = req->server ? req->server->opt.response_headers : NULL;
    for (; extra && extra[0] && extra[1]; extra += 2) MHD_add_response_header(resp, extra[0], extra[1]);
    enum MHD_Result rc = MHD_queue_response(req->conn, status, resp);
    MHD_destroy_response(resp);
    if (rc == MHD_YES) req->status = status;
    return rc;
}

enum MHD_Result mc_http_send(mc_http_req *req, unsigned int status, const char *content_type,
                             const void *body, size_t len) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    if (content_type) MHD_add_response_header(resp, "Content-Type", content_type);
    return mc_http_queue(req, status, resp);
}

enum MHD_Result mc_http_send_json(mc_http_req *req, unsigned int status, json_t *body) {
    char *text = mc_json_dump(body);
    json_decref(body);
    if (!text) return MHD_NO;
    size_t n = strlen(text);
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    return mc_http_queue(req, status, resp);
}

static struct MHD_Response *error_response(unsigned int status, const char *fmt, va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    json_t *m = json_string(msg);
    if (!m) m = json_string("(error message was not valid UTF-8)");
    json_t *body = json_pack("{s:{s:i,s:o}}", "error", "status", (int)status, "message", m);
    char *text = body ? mc_json_dump(body) : NULL;
    json_decref(body);
    if (!text) return NULL;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return NULL;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    return resp;
}

struct MHD_Response *mc_http_error_response(unsigned int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    struct MHD_Response *resp = error_response(status, fmt, ap);
    va_end(ap);
    return resp;
}

enum MHD_Result mc_http_send_error(mc_http_req *req, unsigned int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    struct MHD_Response *resp = error_response(status, fmt, ap);
    va_end(ap);
    return mc_http_queue(req, status, resp);
}

enum MHD_Result mc_http_send_problem(mc_http_req *req, unsigned int status, const char *code, const char *title,
                                     json_t *extra, const char *fmt, ...) {
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    json_t *into = extra && json_is_object(extra) ? extra : NULL;
    if (extra && !into) json_decref(extra);
    json_t *body = mc_json_problem(into, (int)status, code, title, detail);
    if (!body) return mc_http_send_error(req, 500, "out of memory");
    char *text = mc_json_dump(body);
    json_decref(body);
    if (!text) return mc_http_send_error(req, 500, "out of memory");
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/problem+json");
    return mc_http_queue(req, status, resp);
}

/* A response can be queued only on the first call or the last one, so a body
 * that outgrows max is drained and refused when it ends. Content-Length lets
 * an oversized body be refused before it is sent at all. */
int mc_http_collect_body(mc_http_req *req, const char *data, size_t *size, size_t max,
                         const char **out, size_t *out_len) {
    if (req->first_call) {
        const char *declared = mc_http_header(req, "Content-Length");
        if (declared && strtoull(declared, NULL, 10) > max) return -1;
        return 0;
    }
    if (*size == 0) {
        if (req->body_too_large) return -1;
        if (!req->body) {
            req->body = calloc(1, 1);
            if (!req->body) return -1;
        }
        *out = req->body;
        *out_len = req->body_len;
        return 1;
    }
    size_t chunk = *size;
    *size = 0;
    if (req->body_too_large || req->body_len + chunk > max) {
        req->body_too_large = true;
        return 0;
    }
    if (req->body_len + chunk + 1 > req->body_cap) {
        size_t cap = (req->body_len + chunk + 1) * 2;
        if (cap > max + 1) cap = max + 1;
        char *grown = realloc(req->body, cap);
        if (!grown) {
            req->body_too_large = true;
            return 0;
        }
        req->body = grown;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, chunk);
    req->body_len += chunk;
    req->body[req->body_len] = '\0';
    return 0;
}

static enum MHD_Result handle_healthz(mc_http_req *req, const char *data, size_t *size) {
    (void)data;
    if (*size) return MHD_NO;
    return mc_http_send_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

static enum MHD_Result handle_readyz(mc_http_req *req, const char *data, size_t *size) {
    (void)data;
    if (*size) return MHD_NO;
    mc_http_server *srv = req->route_ctx;
    mc_err err = {0};
    if (srv->opt.ready && srv->opt.ready(srv->opt.ready_ctx, &err) < 0)
        return mc_http_send_json(req, 503, json_pack("{s:s,s:s}", "status", "not ready",
                                                     "reason", err.msg));
    return mc_http_send_json(req, 200, json_pack("{s:s}", "status", "ready"));
}

static enum MHD_Result handle_metrics(mc_http_req *req, const char *data, size_t *size) {
    (void)data;
    if (*size) return MHD_NO;
    char *text = mc_metrics_render();
    if (!text) return mc_http_send_error(req, 500, "could not render metrics");
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    return mc_http_queue(req, 200, resp);
}

/* Called by libmicrohttpd with the request target as the client sent it,
 * before any percent-decoding: the request's record starts here, keeping
 * the raw path (handlers that must refuse encoded separators see them). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
    (void)conn;
    mc_http_req *req = calloc(1, sizeof *req);
    if (!req) return NULL;
    req->server = cls;
    req->started = mc_monotonic_seconds();
    req->raw_path = strndup(uri, strcspn(uri, "?"));
    const char *query = strchr(uri, '?');
    req->raw_query = strdup(query ? query + 1 : "");
    req->raw_target_end = uri + strlen(uri);
    return req;
}

/* libmicrohttpd hands the request target over as a C string: a raw NUL byte
 * in it silently cuts it short ("/a.mp4\0junk" would read as "/a.mp4").
 * The version follows the target in its buffer, right after the byte that
 * ended the target, so a version further on means the target held a NUL. */
static bool target_holds_nul(const mc_http_req *req, const char *version) {
    return version > req->raw_target_end + 1 && version - req->raw_target_end < 65536;
}

/* The first call of a request: find its route, or answer 404/405 at once. */
static enum MHD_Result dispatch_first(mc_http_server *srv, mc_http_req *req, const char *data,
                                      size_t *size) {
    bool path_known;
    route *r = find_route(srv, req->method, req->path, &path_known);
    if (!r) {
        req->route_name = "unmatched";
        if (path_known) return mc_http_send_error(req, 405, "method %s is not allowed on %s",
                                                  req->method, req->path);
        return mc_http_send_error(req, 404, "no such resource: %s", req->path);
    }
    req->route_name = r->pattern;
    req->route_ctx = r->ctx;
    req->handler = r->handler;
    req->first_call = true;
    enum MHD_Result rc = r->handler(req, data, size);
    req->first_call = false;
    return rc;
}

/* libmicrohttpd 0.9.75 closes the connection after an answer queued on
 * the first call, before it has read the whole request — even one with no
 * body. A request that announces no body is therefore dispatched on the
 * call after (still with *size == 0 and first_call set, so handlers see no
 * difference) and its connection stays open for the next request. */
static bool announces_body(struct MHD_Connection *conn) {
    const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding");
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    return te != NULL || (cl != NULL && strcmp(cl, "0") != 0);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    mc_http_server *srv = cls;
    mc_http_req *req = *con_cls;
    if (!req || !req->raw_path || !req->raw_query) return MHD_NO; /* out of memory in on_uri */
    if (!req->method) {
        req->conn = conn;
        req->method = method;
        req->path = url;
        if (target_holds_nul(req, version)) {
            req->route_name = "unmatched";
            return mc_http_send_error(req, 400, "the request target holds a NUL byte");
        }
        if (strcmp(version, MHD_HTTP_VERSION_1_1) == 0 && !mc_http_header(req, "Host")) {
            req->route_name = "unmatched";
            return mc_http_send_error(req, 400, "an HTTP/1.1 request needs a Host header");
        }
        if (!announces_body(conn)) return MHD_YES; /* dispatched on the next call */
        return dispatch_first(srv, req, upload_data, upload_data_size);
    }
    if (!req->route_name) return dispatch_first(srv, req, upload_data, upload_data_size);
    if (req->status) {
        /* Answered already: drop any body the client still sends. */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!req->handler) return MHD_NO;
    return req->handler(req, upload_data, upload_data_size);
}

static void record_request(mc_http_server *srv, mc_http_req *req,
                           enum MHD_RequestTerminationCode toe) {
    char labels[256];
    unsigned int status = req->status ? req->status : 499; /* client went away */
    snprintf(labels, sizeof labels, "service=\"%s\",route=\"%s\",method=\"%s\",code=\"%u\"",
             srv->service, req->route_name ? req->route_name : "unmatched", req->method, status);
    mc_counter_inc(mc_counter("mcloud_http_requests_total", "HTTP requests by route and status.",
                              labels));
    snprintf(labels, sizeof labels, "service=\"%s\",route=\"%s\"", srv->service,
             req->route_name ? req->route_name : "unmatched");
    mc_histogram_observe(mc_histogram("mcloud_http_request_duration_seconds",
                                      "Time from request headers to the response's last byte.",
                                      labels, mc_latency_buckets, mc_latency_buckets_count),
                         mc_monotonic_seconds() - req->started);
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        mc_log_kv(MC_LOG_DEBUG, "request ended early", "method", req->method, "path", req->path,
                  NULL);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)conn;
    mc_http_req *req = *con_cls;
    if (!req) return;
    if (req->method) record_request(cls, req, toe); /* else refused before dispatch (e.g. 431) */
    if (req->free_state && req->state) req->free_state(req->state);
    free(req->body);
    free(req->raw_path);
    free(req->raw_query);
    free(req);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    if (!mc_log_enabled(MC_LOG_DEBUG)) return;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
    mc_log_kv(MC_LOG_DEBUG, "libmicrohttpd", "detail", msg, NULL);
}

int mc_http_start(mc_http_server *srv, mc_err *err) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv->opt.port)};
    if (inet_pton(AF_INET, srv->bind, &addr.sin_addr) != 1)
        return mc_err_set(err, MC_ERR_INVALID, "http.bind '%s' is not an IPv4 address", srv->bind);
    unsigned int flags = MHD_USE_ERROR_LOG | MHD_USE_INTERNAL_POLLING_THREAD;
    flags |= srv->opt.threads > 0 ? MHD_USE_EPOLL : MHD_USE_THREAD_PER_CONNECTION;
    unsigned int timeout = srv->opt.connection_timeout_s ? srv->opt.connection_timeout_s : 60;
    struct MHD_OptionItem pool_opt[] = {
        {MHD_OPTION_THREAD_POOL_SIZE, srv->opt.threads > 0 ? srv->opt.threads : 0, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
        MHD_OPTION_CONNECTION_TIMEOUT, timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        srv->opt.connection_memory ? srv->opt.connection_memory : (size_t)32 * 1024,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_ARRAY,
        srv->opt.threads > 0 ? pool_opt : pool_opt + 1, MHD_OPTION_END);
    if (!srv->daemon)
        return mc_err_set(err, MC_ERR_UNAVAILABLE, "cannot listen on %s:%d (port in use?)",
                          srv->bind, srv->opt.port);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : srv->opt.port;
    mc_log_kv(MC_LOG_INFO, "http server listening", "service", srv->service, "bind", srv->bind,
              NULL);
    return 0;
}

int mc_http_port(mc_http_server *srv) { return srv->port; }

static unsigned int open_connections(mc_http_server *srv) {
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return info ? info->num_connections : 0;
}

void mc_http_stop(mc_http_server *srv, unsigned int grace_ms) {
    if (!srv || !srv->daemon) return;
    MHD_socket listener = MHD_quiesce_daemon(srv->daemon);
    if (listener != MHD_INVALID_SOCKET) close(listener);
    for (unsigned int waited = 0; waited < grace_ms && open_connections(srv) > 0; waited += 20)
        usleep(20 * 1000);
    MHD_stop_daemon(srv->daemon);
    srv->daemon = NULL;
}

void mc_http_free(mc_http_server *srv) {
    if (!srv) return;
    mc_http_stop(srv, 0);
    for (route *r = srv->routes, *next; r; r = next) {
        next = r->next;
        free(r->method);
        free(r->pattern);
        free(r);
    }
    free(srv);
}
