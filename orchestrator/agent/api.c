/* api.c — the agent's HTTP API, the orchestrator's side of the contract:
 * PUT/DELETE/GET /v1/instances[/<name>[/logs]] and
 * PUT /v1/instances/<name>/resources (live limits, resize.c) behind the fencing check
 * (a stale X-Mcloud-Fence gets 409 stale_fence). Handlers record the wish
 * and nudge the supervisor; they never wait for the engine, except logs:
 * an order is answered at once (201/200 accepted, 202 stopping) and the
 * container is created in the background (the instance reports "starting",
 * then its health, in GET /v1/instances and the node's heartbeat). */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "orchestrator/agent/agent.h"

#define ORDER_MAX_BYTES (256 * 1024)

static enum MHD_Result problem(mc_http_req *req, unsigned status, const char *code, const char *detail) {
    const char *title = status == 400 ? "Bad Request" : status == 404 ? "Not Found"
                      : status == 409 ? "Conflict" : status == 413 ? "Payload Too Large"
                      : status == 405 ? "Method Not Allowed" : "Error";
    json_t *b = json_pack("{s:s,s:s,s:i,s:o,s:s}", "type", "about:blank", "title", title, "status",
                          (int)status, "detail", mc_json_string_lossy(detail, strlen(detail)), "code", code);
    char *text = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    enum MHD_Result r = mc_http_send(req, status, "application/problem+json", text ? text : "{}",
                                     text ? strlen(text) : 2);
    free(text);
    return r;
}

/* The fencing check every order passes first. 0: accepted. */
static int fence(mc_agent *a, mc_http_req *req, enum MHD_Result *answer) {
    mc_err err = {0};
    pthread_mutex_lock(&a->lock);
    uint64_t before = a->fence;
    int rc = mc_agent_fence_check(mc_http_header(req, "X-Mcloud-Fence"), &a->fence, &err);
    if (rc == 0 && a->fence != before && mc_agent_save_fence(a, &err) < 0) {
        mc_log_kv(MC_LOG_ERROR, "saving the fence failed", "error", err.msg, NULL);
        a->fence = before;
        rc = -1;
        err.kind = MC_ERR_INTERNAL;
    }
    pthread_mutex_unlock(&a->lock);
    if (rc == 0) return 0;
    *answer = err.kind == MC_ERR_CONFLICT ? problem(req, 409, "stale_fence", err.msg)
            : err.kind == MC_ERR_INVALID  ? problem(req, 400, "bad_fence", err.msg)
                                          : problem(req, 500, "internal", err.msg);
    return -1;
}

static mc_agent_instance *find(mc_agent *a, const char *name) {
    for (int i = 0; i < MC_AGENT_MAX_INSTANCES; i++)
        if (a->inst[i].used && strcmp(a->inst[i].order.name, name) == 0) return &a->inst[i];
    return NULL;
}

static enum MHD_Result put_instance(mc_agent *a, mc_http_req *req, const char *name, const char *body,
                                    size_t len) {
    mc_agent_order o;
    mc_err err = {0};
    if (mc_agent_order_parse(name, body, len, &o, &err) < 0) return problem(req, 400, "invalid_order", err.msg);
    pthread_mutex_lock(&a->lock);
    mc_agent_instance *i = find(a, name);
    unsigned status = 201;
    if (i && !i->deleting && i->order.spec_version == o.spec_version) {
        pthread_mutex_unlock(&a->lock);
        mc_agent_order_free(&o);
        return mc_http_send_json(req, 200, json_pack("{s:s,s:s}", "name", name, "status", "unchanged"));
    }
    if (i) { /* a new version (or a delete in progress): replace */
        status = 200;
        mc_agent_order_free(&i->order);
        free(i->order_json);
        i->replacing = i->container_id[0] != '\0' || i->creating; /* what a starter makes is replaced too */
        i->deleting = false;
        /* the new version has proven nothing yet: reported so at once (the
         * old container's health must not count for it while it stops) */
        i->healthy = i->ready = false;
        snprintf(i->state, sizeof i->state, "starting");
    } else {
        for (int k = 0; k < MC_AGENT_MAX_INSTANCES && !i; k++)
            if (!a->inst[k].used) i = &a->inst[k];
        if (!i) {
            pthread_mutex_unlock(&a->lock);
            mc_agent_order_free(&o);
            return problem(req, 409, "node_full", "this agent runs its maximum of instances");
        }
        memset(i, 0, sizeof *i);
        i->used = true;
        i->last_exit_code = -1;
        snprintf(i->state, sizeof i->state, "starting");
    }
    i->order = o;
    i->order_json = strndup(body, len);
    mc_backoff_init(&i->backoff, (unsigned)o.restart.delay_ms, (unsigned)o.restart.max_delay_ms);
    i->restart_window = (mc_agent_restart_window){0};
    i->restart_at = 0;
    if (mc_agent_save_order(a, i, &err) < 0)
        mc_log_kv(MC_LOG_WARN, "saving an order failed", "instance", name, "error", err.msg, NULL);
    if (status == 201) mc_agent_start_now(a, i); /* a new instance's create begins now, not next round */
    pthread_mutex_unlock(&a->lock);
    mc_periodic_nudge(a->loop);
    return mc_http_send_json(req, status, json_pack("{s:s,s:s}", "name", name, "status",
                                                    status == 201 ? "created" : "replacing"));
}

static enum MHD_Result delete_instance(mc_agent *a, mc_http_req *req, const char *name) {
    pthread_mutex_lock(&a->lock);
    mc_agent_instance *i = find(a, name);
    if (i) {
        i->deleting = true;
        snprintf(i->state, sizeof i->state, "stopping");
    }
    pthread_mutex_unlock(&a->lock);
    if (!i) return problem(req, 404, "not_found", "no such instance on this node");
    mc_periodic_nudge(a->loop);
    return mc_http_send_json(req, 202, json_pack("{s:s,s:s}", "name", name, "status", "stopping"));
}

static enum MHD_Result list_instances(mc_agent *a, mc_http_req *req) {
    json_t *arr = json_array();
    pthread_mutex_lock(&a->lock);
    for (int i = 0; i < MC_AGENT_MAX_INSTANCES; i++)
        if (a->inst[i].used) json_array_append_new(arr, mc_agent_instance_json(&a->inst[i]));
    pthread_mutex_unlock(&a->lock);
    return mc_http_send_json(req, 200, json_pack("{s:o,s:I}", "instances", arr, "fence", (json_int_t)a->fence));
}

static enum MHD_Result instance_logs(mc_agent *a, mc_http_req *req, const char *name) {
    char id[MC_DOCKER_ID_MAX] = "", last[sizeof ((mc_agent_instance *)0)->last_logs];
    pthread_mutex_lock(&a->lock);
    mc_agent_instance *i = find(a, name);
    if (i) snprintf(id, sizeof id, "%s", i->container_id);
    if (i) snprintf(last, sizeof last, "%s", i->last_logs);
    pthread_mutex_unlock(&a->lock);
    if (!i) return problem(req, 404, "not_found", "no such instance on this node");
    /* between two containers of a crash loop: the previous one's last lines */
    if (!id[0]) return mc_http_send(req, 200, "text/plain; charset=utf-8", last, strlen(last));
    const char *t = mc_http_query(req, "tail");
    char *end = NULL;
    long tail = t ? strtol(t, &end, 10) : 100;
    if (t && (*end || tail < 0 || tail > 100000)) return problem(req, 400, "invalid_tail", "query 'tail' must be 0..100000");
    mc_err err = {0};
    mc_docker *d = mc_docker_new(a->engine_socket, &err);
    size_t cap = 4 * 1024 * 1024;
    char *out = malloc(cap);
    int rc = d && out ? mc_docker_logs(d, id, (int)tail, out, cap, &err) : -1;
    mc_docker_free(d);
    if (rc == 0 && !out[0]) snprintf(out, cap, "%s", last); /* the new one said nothing yet */
    enum MHD_Result r = rc == 0 ? mc_http_send(req, 200, "text/plain; charset=utf-8", out, strlen(out))
                                : problem(req, 502, "engine", err.msg);
    free(out);
    return r;
}

static enum MHD_Result handle_instances(mc_http_req *req, const char *data, size_t *size) {
    mc_agent *a = req->route_ctx;
    const char *rest = req->path + strlen("/v1/instances");
    if (strcmp(req->method, "GET") == 0 && (!rest[0] || strcmp(rest, "/") == 0)) return list_instances(a, req);
    if (rest[0] != '/' || !rest[1]) return problem(req, 404, "not_found", "no such path");
    char name[MC_AGENT_NAME_MAX + 8];
    snprintf(name, sizeof name, "%s", rest + 1);
    char *slash = strchr(name, '/');
    if (slash) {
        *slash = '\0';
        if (strcmp(slash + 1, "resources") == 0 && strcmp(req->method, "PUT") == 0) {
            const char *body;
            size_t len;
            int rc = mc_http_collect_body(req, data, size, ORDER_MAX_BYTES, &body, &len);
            if (rc < 0) return problem(req, 413, "too_large", "body over 256 KiB");
            if (rc == 0) return MHD_YES;
            enum MHD_Result answer;
            if (fence(a, req, &answer) < 0) return answer;
            return mc_agent_limits_put(a, req, name, body, len);
        }
        if (strcmp(slash + 1, "logs") != 0 || strcmp(req->method, "GET") != 0)
            return problem(req, 404, "not_found", "no such path");
        return instance_logs(a, req, name);
    }
    if (strcmp(req->method, "PUT") == 0) {
        const char *body;
        size_t len;
        int rc = mc_http_collect_body(req, data, size, ORDER_MAX_BYTES, &body, &len);
        if (rc < 0) return problem(req, 413, "too_large", "order body over 256 KiB");
        if (rc == 0) return MHD_YES;
        enum MHD_Result answer;
        if (fence(a, req, &answer) < 0) return answer;
        return put_instance(a, req, name, body, len);
    }
    if (strcmp(req->method, "DELETE") == 0) {
        enum MHD_Result answer;
        if (fence(a, req, &answer) < 0) return answer;
        return delete_instance(a, req, name);
    }
    return problem(req, 405, "method", "PUT, DELETE or GET");
}

int mc_agent_api_routes(mc_agent *a, mc_err *err) {
    if (mc_http_route(a->svc.http, "*", "/v1/instances*", handle_instances, a) < 0)
        return mc_err_set(err, MC_ERR_INTERNAL, "out of memory adding routes");
    return 0;
}
