/* http.h — the HTTP server every daemon is built on (libmicrohttpd).
 *
 * Owns routing, the endpoints every service exposes (GET /healthz, GET
 * /readyz, GET /metrics), request metrics, JSON error bodies and graceful
 * shutdown. Handlers follow libmicrohttpd's access-handler protocol so they
 * can stream bodies in both directions:
 *   1. first call: headers are known, *size == 0 — validate, maybe respond;
 *   2. body calls: data and *size hold a chunk — consume it and set *size = 0;
 *   3. last call: *size == 0 again — queue the response.
 * A handler that responds early (a rejection after step 1) never sees the
 * body. req->state is the handler's own per-request memory, released through
 * req->free_state when the request ends, also on a client disconnect. */
#ifndef MCLOUD_HTTP_H
#define MCLOUD_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/clock.h" /* mc_monotonic_seconds, which request timings use */
#include "common/error.h"

typedef struct mc_http_server mc_http_server;
typedef struct mc_http_req mc_http_req;

typedef enum MHD_Result (*mc_http_handler)(mc_http_req *req, const char *data, size_t *size);
/* Returns 0 when ready, or -1 with a reason in err (GET /readyz → 503). */
typedef int (*mc_http_ready_check)(void *ctx, mc_err *err);

struct mc_http_req {
    struct MHD_Connection *conn;
    const char *method;
    const char *path;          /* decoded path, without the query */
    char *raw_path;            /* the path as sent, before percent-decoding */
    char *raw_query;           /* the query as sent (after '?'), "" when none */
    const char *raw_target_end;/* private: where libmicrohttpd's target string ended */
    mc_http_server *server;    /* private: the server the request came to */
    const char *route_name;    /* the pattern that matched, for metrics */
    void *route_ctx;           /* given to mc_http_route */
    mc_http_handler handler;   /* the matched route's handler */
    bool first_call;           /* true during call 1 (headers only) */
    void *state;               /* the handler's per-request state */
    void (*free_state)(void *state);
    unsigned int status;       /* status of the queued response, 0 until then */
    double started;            /* monotonic seconds */
    char *body;                /* mc_http_collect_body's buffer */
    size_t body_len, body_cap;
    bool body_too_large;
};

typedef struct mc_http_options {
    const char *service;       /* names the metrics and logs */
    const char *bind;          /* default 127.0.0.1 */
    int port;                  /* 0: an ephemeral port (see mc_http_port) */
    int threads;               /* 0: a thread per connection; N: a pool of N (epoll) */
    unsigned int connection_timeout_s; /* idle connection timeout; 0 = 60 s */
    /* bytes of libmicrohttpd's per-connection pool (request headers, then
     * the read buffer a body is handed over from: about half of it per
     * call); 0: libmicrohttpd's 32 KiB. A server streaming large bodies
     * raises it so each handler call moves more bytes. */
    size_t connection_memory;
    mc_http_ready_check ready;
    void *ready_ctx;
    /* name, value, name, value, ..., NULL: headers every answer queued
     * through mc_http_queue carries (e.g. CORS for a player's scripts);
     * the array must outlive the server. NULL: none. */
    const char *const *response_headers;
} mc_http_options;

mc_http_server *mc_http_new(const mc_http_options *opt);
/* method: "GET", "POST", ... or "*" for any. pattern: an exact path, or a
 * prefix ending with '*' ("/files/" followed by '*'). Routes are matched in order. */
int mc_http_route(mc_http_server *srv, const char *method, const char *pattern,
                  mc_http_handler handler, void *ctx);
int mc_http_start(mc_http_server *srv, mc_err *err);
int mc_http_port(mc_http_server *srv);
/* Stops accepting, lets requests in flight finish for up to grace_ms, stops. */
void mc_http_stop(mc_http_server *srv, unsigned int grace_ms);
void mc_http_free(mc_http_server *srv);

/* Request helpers. */
const char *mc_http_header(mc_http_req *req, const char *name);
const char *mc_http_query(mc_http_req *req, const char *name);
/* Queues resp with status (adds the headers every response carries, and
 * the server's response_headers) and drops the caller's reference. */
enum MHD_Result mc_http_queue(mc_http_req *req, unsigned int status, struct MHD_Response *resp);
enum MHD_Result mc_http_send(mc_http_req *req, unsigned int status, const char *content_type,
                             const void *body, size_t len);
/* Steals the reference to body. */
enum MHD_Result mc_http_send_json(mc_http_req *req, unsigned int status, json_t *body);
/* {"error": {"status": N, "message": "..."}} */
enum MHD_Result mc_http_send_error(mc_http_req *req, unsigned int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An RFC 9457 problem (application/problem+json):
 * {"type","title","status","detail","code"} plus the fields of extra (an
 * object whose reference is stolen; NULL: none), e.g. a list of errors. */
enum MHD_Result mc_http_send_problem(mc_http_req *req, unsigned int status, const char *code, const char *title,
                                     json_t *extra, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* The same error as a response not yet queued, so the caller can add headers
 * (e.g. a protocol's own) before mc_http_queue. NULL when out of memory. */
struct MHD_Response *mc_http_error_response(unsigned int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Gathers a small request body (e.g. JSON) across the handler's calls; call
 * it on every call. Returns 1 when the whole body is in *out (NUL-terminated,
 * owned by req), 0 while more is coming, -1 when it exceeds max (the caller
 * answers 413): at once when Content-Length says so, else at the end. */
int mc_http_collect_body(mc_http_req *req, const char *data, size_t *size, size_t max,
                         const char **out, size_t *out_len);

#endif
