/* dispatch.c — the request path of mcloud-api around every handler.
 *
 * One libmicrohttpd route ("*" on /v1/...) lands here. The body is gathered
 * (at most MC_API_BODY_MAX), then, in order: the route and method (404,
 * 405), the query string (400), the API key (401) and its scope (403), the
 * key's rate limit (429), the JSON body (415, 400), the Idempotency-Key of a
 * POST (replay, 409, 422), the handler. Every answer carries X-Request-Id
 * (the client's, when it sent a valid one), errors are problem+json, and
 * each request is logged once with its id. */
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "common/json.h"
#include "common/log.h"

int mc_api_fail(mc_api_resp *r, int status, const char *code, const char *fmt, ...) {
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    json_decref(r->body);
    r->status = status;
    r->body = mc_api_problem(status, code, detail);
    r->content_type = "application/problem+json";
    return -1;
}

int mc_api_fail_err(mc_api_ctx *c, mc_api_resp *r, const mc_err *err) {
    switch (err->kind) {
    case MC_ERR_INVALID: return mc_api_fail(r, 400, "invalid_request", "%s", err->msg);
    case MC_ERR_NOT_FOUND: return mc_api_fail(r, 404, "not_found", "%s", err->msg);
    case MC_ERR_CONFLICT: return mc_api_fail(r, 409, "conflict", "%s", err->msg);
    case MC_ERR_UNAVAILABLE:
        mc_log_kv(MC_LOG_WARN, "backing server unavailable", "request_id", c->request_id,
                  "error", err->msg, NULL);
        return mc_api_fail(r, 503, "unavailable", "a backing server is unavailable; retry shortly");
    default:
        mc_log_kv(MC_LOG_ERROR, "request failed", "request_id", c->request_id, "error", err->msg,
                  NULL);
        return mc_api_fail(r, 500, "internal", "internal error (request %s)", c->request_id);
    }
}

int mc_api_ok(mc_api_resp *r, int status, json_t *body) {
    r->status = status;
    r->body = body;
    return 0;
}

int mc_api_page(mc_api_ctx *c, mc_api_resp *r, json_t *data, const mc_api_cursor *last) {
    char cbuf[MC_API_CURSOR_MAX];
    mc_err err = {0};
    json_t *out = json_object();
    json_object_set_new(out, "data", data);
    json_object_set_new(out, "next_cursor",
                        last && mc_api_cursor_encode(&c->srv->cursor_key, c->caller.tenant, last,
                                                     cbuf, &err) == 0
                            ? json_string(cbuf) : json_null());
    return mc_api_ok(r, 200, out);
}

/* ---- routing ------------------------------------------------------------- */

typedef int (*handler_fn)(mc_api_ctx *c, mc_api_resp *r);
typedef int (*id_handler_fn)(mc_api_ctx *c, mc_api_resp *r, const char *id);

typedef struct route {
    const char *method;
    const char *shape;         /* segments after /v1/, "{}" for an id */
    unsigned scope;            /* 0: no key needed */
    handler_fn fn;
    id_handler_fn id_fn;
    bool json_body;
} route;

static int openapi(mc_api_ctx *c, mc_api_resp *r) {
    r->status = 200;
    r->raw = true;
    r->body_raw = c->srv->openapi_json;
    r->body_raw_len = c->srv->openapi_len;
    r->content_type = "application/json";
    return 0;
}

static const route routes[] = {
    {"GET", "openapi.json", 0, openapi, NULL, false},
    {"POST", "uploads", MC_API_SCOPE_VIDEOS_WRITE, mc_api_uploads_create, NULL, true},
    {"GET", "videos", MC_API_SCOPE_VIDEOS_READ, mc_api_videos_list, NULL, false},
    {"GET", "videos/{}", MC_API_SCOPE_VIDEOS_READ, NULL, mc_api_video_get, false},
    {"PATCH", "videos/{}", MC_API_SCOPE_VIDEOS_WRITE, NULL, mc_api_video_patch, true},
    {"DELETE", "videos/{}", MC_API_SCOPE_VIDEOS_WRITE, NULL, mc_api_video_delete, false},
    {"GET", "videos/{}/playback", MC_API_SCOPE_VIDEOS_READ, NULL, mc_api_video_playback, false},
    {"POST", "api-keys", MC_API_SCOPE_ADMIN, mc_api_keys_create, NULL, true},
    {"GET", "api-keys", MC_API_SCOPE_ADMIN, mc_api_keys_list, NULL, false},
    {"DELETE", "api-keys/{}", MC_API_SCOPE_ADMIN, NULL, mc_api_keys_revoke, false},
    {"GET", "usage", MC_API_SCOPE_VIDEOS_READ, mc_api_usage, NULL, false},
    {"POST", "webhooks", MC_API_SCOPE_WEBHOOKS, mc_api_webhooks_create, NULL, true},
    {"GET", "webhooks", MC_API_SCOPE_WEBHOOKS, mc_api_webhooks_list, NULL, false},
    {"GET", "webhooks/{}", MC_API_SCOPE_WEBHOOKS, NULL, mc_api_webhook_get, false},
    {"PATCH", "webhooks/{}", MC_API_SCOPE_WEBHOOKS, NULL, mc_api_webhook_patch, true},
    {"DELETE", "webhooks/{}", MC_API_SCOPE_WEBHOOKS, NULL, mc_api_webhook_delete, false},
    {"POST", "webhooks/{}/rotate-secret", MC_API_SCOPE_WEBHOOKS, NULL, mc_api_webhook_rotate, false},
    {"GET", "webhooks/{}/deliveries", MC_API_SCOPE_WEBHOOKS, NULL, mc_api_webhook_deliveries, false},
    {"POST", "webhooks/{}/deliveries/{}/retry", MC_API_SCOPE_WEBHOOKS, NULL, mc_api_webhook_retry,
     false},
};
#define NROUTES (sizeof routes / sizeof routes[0])

/* Whether the path's segments fit shape; *id and *id2 get the "{}" segments. */
static bool shape_matches(const char *shape, mc_api_ctx *c, const char **id, const char **id2) {
    size_t i = 0;
    *id = *id2 = NULL;
    while (*shape) {
        size_t n = strcspn(shape, "/");
        if (i >= c->nsegs) return false;
        if (n == 2 && strncmp(shape, "{}", 2) == 0) *(*id ? id2 : id) = c->segs[i];
        else if (strlen(c->segs[i]) != n || strncmp(shape, c->segs[i], n) != 0) return false;
        i++;
        shape += n;
        if (*shape == '/') shape++;
    }
    return i == c->nsegs;
}

static const route *find(mc_api_ctx *c, const char **id, char *allow, size_t cap) {
    allow[0] = '\0';
    const route *hit = NULL;
    for (size_t i = 0; i < NROUTES; i++) {
        const char *rid, *rid2;
        if (!shape_matches(routes[i].shape, c, &rid, &rid2)) continue;
        size_t used = strlen(allow);
        snprintf(allow + used, cap - used, "%s%s", used ? ", " : "", routes[i].method);
        if (!hit && strcmp(routes[i].method, c->req->method) == 0) {
            hit = &routes[i];
            *id = rid;
            c->id2 = rid2;
        }
    }
    return hit;
}

static int split_path(mc_api_ctx *c) {
    const char *p = c->req->path + strlen("/v1/");
    c->path_copy = strdup(p);
    if (!c->path_copy) return -1;
    char *s = c->path_copy, *save = NULL;
    for (char *seg = strtok_r(s, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
        if (c->nsegs == sizeof c->segs / sizeof c->segs[0]) {
            c->nsegs = 0; /* longer than any route: unknown */
            c->segs[0] = "";
            return 0;
        }
        c->segs[c->nsegs++] = seg;
    }
    return 0;
}

/* ---- answering ------------------------------------------------------------ */

static void add_rate_headers(struct MHD_Response *resp, const mc_api_rate *rate, int status) {
    if (!rate->known) return;
    char v[32];
    snprintf(v, sizeof v, "%ld", rate->limit);
    MHD_add_response_header(resp, "RateLimit-Limit", v);
    snprintf(v, sizeof v, "%ld", rate->remaining);
    MHD_add_response_header(resp, "RateLimit-Remaining", v);
    snprintf(v, sizeof v, "%ld", rate->reset_s);
    MHD_add_response_header(resp, "RateLimit-Reset", v);
    if (status == 429) {
        snprintf(v, sizeof v, "%ld", rate->retry_after_s);
        MHD_add_response_header(resp, "Retry-After", v);
    }
}

static enum MHD_Result respond(mc_api_ctx *c, mc_api_resp *r, const mc_api_rate *rate,
                               const char *allow) {
    struct MHD_Response *resp;
    if (r->raw) {
        resp = MHD_create_response_from_buffer(r->body_raw_len, (void *)r->body_raw,
                                               MHD_RESPMEM_PERSISTENT);
    } else if (r->body) {
        char *text = mc_json_dump(r->body);
        if (!text) return MHD_NO;
        resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
        if (!resp) free(text);
    } else {
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    }
    if (!resp) return MHD_NO;
    if (r->body || r->raw)
        MHD_add_response_header(resp, "Content-Type",
                                r->content_type ? r->content_type : "application/json");
    MHD_add_response_header(resp, "X-Request-Id", c->request_id);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (r->location[0]) MHD_add_response_header(resp, "Location", r->location);
    if (r->replayed) MHD_add_response_header(resp, "Idempotent-Replayed", "true");
    if (r->status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"mcloud\"");
    if (allow && r->status == 405) MHD_add_response_header(resp, "Allow", allow);
    add_rate_headers(resp, rate, r->status);
    char status[8];
    snprintf(status, sizeof status, "%d", r->status);
    const char *code = r->body && r->status >= 400
                           ? json_string_value(json_object_get(r->body, "code")) : NULL;
    mc_log_kv(r->status >= 500 ? MC_LOG_WARN : MC_LOG_INFO, "request", "request_id",
              c->request_id, "method", c->req->method, "path", c->req->path, "status", status,
              "tenant", c->caller.tenant, "key", c->caller.key_id, "code", code ? code : "", NULL);
    return mc_http_queue(c->req, (unsigned)r->status, resp);
}

static void set_request_id(mc_api_ctx *c) {
    const char *given = mc_http_header(c->req, "X-Request-Id");
    if (given && mc_api_request_id_valid(given)) {
        snprintf(c->request_id, sizeof c->request_id, "%s", given);
        return;
    }
    unsigned char b[12];
    if (RAND_bytes(b, sizeof b) != 1) memset(b, 0, sizeof b);
    strcpy(c->request_id, "req_");
    for (size_t i = 0; i < sizeof b; i++) snprintf(c->request_id + 4 + 2 * i, 3, "%02x", b[i]);
}

static void free_ctx(void *p) {
    mc_api_ctx *c = p;
    mc_api_query_free(&c->query);
    json_decref(c->body);
    free(c->path_copy);
    free(c);
}

static int parse_body(mc_api_ctx *c, mc_api_resp *r, const char *body, size_t len) {
    const char *ct = mc_http_header(c->req, "Content-Type");
    if (!ct || strncasecmp(ct, "application/json", 16) != 0 ||
        (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' '))
        return mc_api_fail(r, 415, "unsupported_media_type",
                           "the body must be JSON (Content-Type: application/json)");
    mc_err err = {0};
    c->body = mc_json_parse_object(body, len, &err);
    if (!c->body) return mc_api_fail(r, 400, "invalid_json", "%s", err.msg);
    return 0;
}

/* The checks and the handler, once the whole body is in. */
static void process(mc_api_ctx *c, mc_api_resp *r, mc_api_rate *rate, const char *body,
                    size_t len, char *allow, size_t allow_cap) {
    const char *id = NULL;
    mc_err err = {0};
    const route *rt = find(c, &id, allow, allow_cap);
    if (!rt) {
        if (allow[0]) mc_api_fail(r, 405, "method_not_allowed", "%s is not allowed on %s (allowed: %s)",
                                  c->req->method, c->req->path, allow);
        else mc_api_fail(r, 404, "not_found", "no such resource: %s", c->req->path);
        return;
    }
    if (rt->scope) {
        if (mc_api_authenticate(c, r) < 0) return;
        if (!(c->caller.scopes & rt->scope)) {
            char need[64];
            mc_api_scopes_format(rt->scope, need, sizeof need);
            mc_api_fail(r, 403, "insufficient_scope", "this API key lacks the scope %s", need);
            return;
        }
        if (mc_api_rate_take(c, rate, r) < 0) return; /* also counts the call (usage.c) */
    }
    if (mc_api_query_parse(c->req->raw_query, strlen(c->req->raw_query), &c->query, &err) < 0) {
        mc_api_fail(r, 400, "invalid_query", "%s", err.msg);
        return;
    }
    if (rt->json_body && parse_body(c, r, body, len) < 0) return;
    mc_api_idem idem = {0};
    if (strcmp(rt->method, "POST") == 0) {
        if (mc_api_idem_begin(c, &idem, r) != 0) return;
    }
    if (rt->fn) rt->fn(c, r);
    else rt->id_fn(c, r, id);
    if (idem.active) mc_api_idem_finish(c, &idem, r);
}

static enum MHD_Result handle(mc_http_req *req, const char *data, size_t *size) {
    mc_api_ctx *c = req->state;
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c) return MHD_NO;
        c->srv = req->route_ctx;
        c->req = req;
        req->state = c;
        req->free_state = free_ctx;
        set_request_id(c);
        if (split_path(c) < 0) return MHD_NO;
    }
    if (req->status) { /* answered early: drain the body */
        *size = 0;
        return MHD_YES;
    }
    const char *body = NULL;
    size_t len = 0;
    int got = mc_http_collect_body(req, data, size, MC_API_BODY_MAX, &body, &len);
    mc_api_resp r = {0};
    mc_api_rate rate = {0};
    char allow[64];
    allow[0] = '\0';
    if (got == 0) return MHD_YES;
    if (got < 0) mc_api_fail(&r, 413, "body_too_large", "the body is larger than %d bytes",
                             MC_API_BODY_MAX);
    else process(c, &r, &rate, body, len, allow, sizeof allow);
    if (r.status == 0) /* a handler that answered nothing: a bug, never an empty 0 */
        mc_api_fail(&r, 500, "internal", "internal error (request %s)", c->request_id);
    enum MHD_Result rc = respond(c, &r, &rate, allow);
    json_decref(r.body);
    return rc;
}

int mc_api_routes(mc_api_server *srv, mc_err *err) {
    if (mc_http_route(srv->svc.http, "*", "/v1/*", handle, srv) < 0)
        return mc_err_set(err, MC_ERR_INTERNAL, "cannot add the /v1/ route");
    return 0;
}
