/* webhooks.c — /v1/webhooks: a tenant's endpoints (create with the signing
 * secret shown once, list, get, change, delete, rotate the secret), the
 * delivery log of an endpoint and the replay of one delivery. Every
 * statement names the caller's tenant: another tenant's endpoint or
 * delivery is as absent as an unknown id (404). Sending is webhook_run.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "common/log.h"
#include "common/uuid.h"

#define ENDPOINT_COLUMNS \
    "id, url, description, events, enabled, disabled_reason, created_at, updated_at"

static json_t *time_or_null(const char *db) {
    char t[32];
    return db && mc_api_time_from_db(db, t) == 0 ? json_string(t) : json_null();
}

static json_t *endpoint_json(const mc_db_rows *rows, size_t i) {
    json_t *e = json_object();
    const char *reason = mc_db_rows_get(rows, i, 5);
    json_object_set_new(e, "id", json_string(mc_db_rows_get(rows, i, 0)));
    json_object_set_new(e, "url", json_string(mc_db_rows_get(rows, i, 1)));
    json_object_set_new(e, "description", json_string(mc_db_rows_get(rows, i, 2)));
    json_object_set_new(e, "events", mc_wh_filter_json(mc_wh_filter_parse(mc_db_rows_get(rows, i, 3))));
    json_object_set_new(e, "enabled", json_boolean(strcmp(mc_db_rows_get(rows, i, 4), "1") == 0));
    json_object_set_new(e, "disabled_reason", reason ? json_string(reason) : json_null());
    json_object_set_new(e, "created_at", time_or_null(mc_db_rows_get(rows, i, 6)));
    json_object_set_new(e, "updated_at", time_or_null(mc_db_rows_get(rows, i, 7)));
    return e;
}

static int not_found(mc_api_resp *r, const char *id) {
    return mc_api_fail(r, 404, "webhook_not_found", "no webhook endpoint %.64s", id);
}

static int no_query(mc_api_ctx *c, mc_api_resp *r) {
    return c->query.count ? mc_api_fail(r, 400, "invalid_query", "this resource takes no query "
                                                                 "parameters") : 0;
}

/* The caller's live endpoint id as JSON (NULL with r filled when absent). */
static json_t *load_endpoint(mc_api_ctx *c, mc_api_resp *r, const char *id) {
    mc_err err = {0};
    if (!mc_api_video_id_valid(id)) { /* endpoint ids are UUIDs too */
        not_found(r, id);
        return NULL;
    }
    mc_db_rows rows;
    if (mc_db_query(c->srv->svc.db, MC_DB_MASTER,
                    "SELECT " ENDPOINT_COLUMNS " FROM webhook_endpoints WHERE id = ? AND "
                    "tenant_id = ? AND deleted_at IS NULL",
                    MC_DB_ARGS(mc_db_str(id), mc_db_str(c->caller.tenant)), &rows, &err) < 0) {
        mc_api_fail_err(c, r, &err);
        return NULL;
    }
    json_t *e = rows.nrows ? endpoint_json(&rows, 0) : NULL;
    mc_db_rows_free(&rows);
    if (!e) not_found(r, id);
    return e;
}

int mc_api_webhooks_create(mc_api_ctx *c, mc_api_resp *r) {
    mc_wh_endpoint_req q;
    mc_err err = {0};
    if (no_query(c, r) < 0) return -1;
    if (mc_wh_endpoint_parse(c->body, true, c->srv->set.webhooks_allow_private, &q, &err) < 0)
        return mc_api_fail(r, 400, "invalid_body", "%s", err.msg);
    char id[MC_UUID_LEN + 1], secret[MC_WH_SECRET_MAX], events[96];
    mc_wh_filter_format(q.has_events ? q.events : MC_WH_ALL, events, sizeof events);
    if (mc_uuid_v4(id, &err) < 0 || mc_wh_secret_new(secret, &err) < 0 ||
        mc_db_exec(c->srv->svc.db, MC_DB_MASTER,
                   "INSERT INTO webhook_endpoints (id, tenant_id, url, description, events, secret, "
                   "enabled) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   MC_DB_ARGS(mc_db_str(id), mc_db_str(c->caller.tenant), mc_db_str(q.url),
                              mc_db_str(q.description ? q.description : ""), mc_db_str(events),
                              mc_db_str(secret), mc_db_i64(q.has_enabled ? q.enabled : 1)),
                   NULL, &err) < 0)
        return mc_api_fail_err(c, r, &err);
    json_t *e = load_endpoint(c, r, id);
    if (!e) return -1;
    json_object_set_new(e, "secret", json_string(secret));
    snprintf(r->location, sizeof r->location, "/v1/webhooks/%s", id);
    mc_log_kv(MC_LOG_INFO, "webhook endpoint created", "request_id", c->request_id, "id", id,
              "tenant", c->caller.tenant, NULL);
    return mc_api_ok(r, 201, e);
}

int mc_api_webhooks_list(mc_api_ctx *c, mc_api_resp *r) {
    mc_err err = {0};
    if (no_query(c, r) < 0) return -1;
    mc_db_rows rows;
    if (mc_db_query(c->srv->svc.db, MC_DB_MASTER,
                    "SELECT " ENDPOINT_COLUMNS " FROM webhook_endpoints WHERE tenant_id = ? AND "
                    "deleted_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 1000",
                    MC_DB_ARGS(mc_db_str(c->caller.tenant)), &rows, &err) < 0)
        return mc_api_fail_err(c, r, &err);
    json_t *data = json_array();
    for (size_t i = 0; i < rows.nrows; i++) json_array_append_new(data, endpoint_json(&rows, i));
    mc_db_rows_free(&rows);
    json_t *out = json_object();
    json_object_set_new(out, "data", data);
    return mc_api_ok(r, 200, out);
}

int mc_api_webhook_get(mc_api_ctx *c, mc_api_resp *r, const char *id) {
    if (no_query(c, r) < 0) return -1;
    json_t *e = load_endpoint(c, r, id);
    return e ? mc_api_ok(r, 200, e) : -1;
}

int mc_api_webhook_patch(mc_api_ctx *c, mc_api_resp *r, const char *id) {
    mc_wh_endpoint_req q;
    mc_err err = {0};
    if (!mc_api_video_id_valid(id)) return not_found(r, id);
    if (no_query(c, r) < 0) return -1;
    if (mc_wh_endpoint_parse(c->body, false, c->srv->set.webhooks_allow_private, &q, &err) < 0)
        return mc_api_fail(r, 400, "invalid_body", "%s", err.msg);
    char events[96];
    mc_wh_filter_format(q.events, events, sizeof events);
    mc_db_info info = {0};
    /* Enabling again clears the run of failures that disabled it. */
    if (mc_db_exec(c->srv->svc.db, MC_DB_MASTER,
                   "UPDATE webhook_endpoints SET url = IF(?, ?, url), description = IF(?, ?, "
                   "description), events = IF(?, ?, events), failures = IF(? AND ?, 0, failures), "
                   "disabled_reason = IF(?, IF(?, NULL, 'disabled by the API'), disabled_reason), "
                   "enabled = IF(?, ?, enabled), updated_at = UTC_TIMESTAMP(6) "
                   "WHERE id = ? AND tenant_id = ? AND deleted_at IS NULL",
                   MC_DB_ARGS(mc_db_i64(q.url != NULL), mc_db_str(q.url ? q.url : ""),
                              mc_db_i64(q.description != NULL),
                              mc_db_str(q.description ? q.description : ""),
                              mc_db_i64(q.has_events), mc_db_str(events),
                              mc_db_i64(q.has_enabled), mc_db_i64(q.enabled),
                              mc_db_i64(q.has_enabled), mc_db_i64(q.enabled),
                              mc_db_i64(q.has_enabled), mc_db_i64(q.enabled), mc_db_str(id),
                              mc_db_str(c->caller.tenant)),
                   &info, &err) < 0)
        return mc_api_fail_err(c, r, &err);
    if (info.affected_rows == 0) return not_found(r, id);
    if (q.has_enabled && q.enabled) mc_api_webhooks_nudge(c->srv);
    return mc_api_webhook_get(c, r, id);
}

/* The endpoint goes; its deliveries still pending are closed as failed. */
int mc_api_webhook_delete(mc_api_ctx *c, mc_api_resp *r, const char *id) {
    mc_err err = {0};
    mc_db_info info = {0};
    if (!mc_api_video_id_valid(id)) return not_found(r, id);
    if (no_query(c, r) < 0) return -1;
    if (mc_db_exec(c->srv->svc.db, MC_DB_MASTER,
                   "UPDATE webhook_endpoints SET deleted_at = UTC_TIMESTAMP(6), enabled = 0 "
                   "WHERE id = ? AND tenant_id = ? AND deleted_at IS NULL",
                   MC_DB_ARGS(mc_db_str(id), mc_db_str(c->caller.tenant)), &info, &err) < 0)
        return mc_api_fail_err(c, r, &err);
    if (info.affected_rows == 0) return not_found(r, id);
    if (mc_db_exec(c->srv->svc.db, MC_DB_MASTER,
                   "UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint "
                   "deleted' WHERE endpoint_id = ? AND status = 'pending'",
                   MC_DB_ARGS(mc_db_str(id)), NULL, &err) < 0)
        return mc_api_fail_err(c, r, &err);
    mc_log_kv(MC_LOG_INFO, "webhook endpoint deleted", "request_id", c->request_id, "id", id, NULL);
    r->status = 204;
    return 0;
}

/* A new secret at once: the old one signs nothing from now on. */
int mc_api_webhook_rotate(mc_api_ctx *c, mc_api_resp *r, const char *id) {
    mc_err err = {0};
    mc_db_info info = {0};
    char secret[MC_WH_SECRET_MAX];
    if (!mc_api_video_id_valid(id)) return not_found(r, id);
    if (no_query(c, r) < 0) return -1;
    if (mc_wh_secret_new(secret, &err) < 0 ||
        mc_db_exec(c->srv->svc.db, MC_DB_MASTER,
                   "UPDATE webhook_endpoints SET secret = ?, updated_at = UTC_TIMESTAMP(6) "
                   "WHERE id = ? AND tenant_id = ? AND deleted_at IS NULL",
                   MC_DB_ARGS(mc_db_str(secret), mc_db_str(id), mc_db_str(c->caller.tenant)),
                   &info, &err) < 0)
        return mc_api_fail_err(c, r, &err);
    if (info.affected_rows == 0) return not_found(r, id);
    json_t *e = load_endpoint(c, r, id);
    if (!e) return -1;
    json_object_set_new(e, "secret", json_string(secret));
    mc_log_kv(MC_LOG_INFO, "webhook secret rotated", "request_id", c->request_id, "id", id, NULL);
    return mc_api_ok(r, 200, e);
}

/* ---- deliveries ------------------------------------------------------------ */

#define DELIVERY_COLUMNS                                                                       \
    "d.seq, d.id, d.event_id, ev.type, d.video_id, d.status, d.attempts, d.response_code, "    \
    "d.response_ms, d.last_error, d.last_attempt_at, d.next_attempt_at, d.created_at, ev.payload"

static json_t *int_or_null(const char *s) {
    return s ? json_integer(strtoll(s, NULL, 10)) : json_null();
}

static json_t *delivery_json(const mc_db_rows *rows, size_t i) {
    json_t *d = json_object();
    const char *status = mc_db_rows_get(rows, i, 5), *error = mc_db_rows_get(rows, i, 9);
    json_t *payload = json_loads(mc_db_rows_get(rows, i, 13), 0, NULL);
    json_object_set_new(d, "id", json_string(mc_db_rows_get(rows, i, 1)));
    json_object_set_new(d, "event_id", json_string(mc_db_rows_get(rows, i, 2)));
    json_object_set_new(d, "event_type", json_string(mc_db_rows_get(rows, i, 3)));
    json_object_set_new(d, "video_id", json_string(mc_db_rows_get(rows, i, 4)));
    json_object_set_new(d, "status", json_string(status));
    json_object_set_new(d, "attempts", int_or_null(mc_db_rows_get(rows, i, 6)));
    json_object_set_new(d, "response_code", int_or_null(mc_db_rows_get(rows, i, 7)));
    json_object_set_new(d, "response_time_ms", int_or_null(mc_db_rows_get(rows, i, 8)));
    json_object_set_new(d, "last_error", error ? mc_json_string_lossy(error, strlen(error)) : json_null());
    json_object_set_new(d, "last_attempt_at", time_or_null(mc_db_rows_get(rows, i, 10)));
    json_object_set_new(d, "next_attempt_at", strcmp(status, "pending") == 0
                                                  ? time_or_null(mc_db_rows_get(rows, i, 11))
                                                  : json_null());
    json_object_set_new(d, "created_at", time_or_null(mc_db_rows_get(rows, i, 12)));
    json_object_set_new(d, "payload", json_is_object(payload) ? payload : json_object());
    if (!json_is_object(payload)) json_decref(payload);
    return d;
}

static const char *const delivery_statuses[] = {"pending", "delivered", "failed", NULL};

/* GET /v1/webhooks/{id}/deliveries: newest first, limit, cursor, status. */
int mc_api_webhook_deliveries(mc_api_ctx *c, mc_api_resp *r, const char *id) {
    static const char *const allowed[] = {"limit", "cursor", "status", NULL};
    mc_err err = {0};
    long long limit;
    if (mc_api_query_only(&c->query, allowed, &err) < 0 ||
        mc_api_query_int(&c->query, "limit", 1, MC_API_LIST_MAX_LIMIT, MC_API_LIST_DEFAULT_LIMIT,
                         &limit, &err) < 0)
        return mc_api_fail(r, 400, "invalid_query", "%s", err.msg);
    const char *status = mc_api_query_get(&c->query, "status");
    if (status) {
        bool ok = false;
        for (const char *const *s = delivery_statuses; *s && !ok; s++) ok = strcmp(*s, status) == 0;
        if (!ok) return mc_api_fail(r, 400, "invalid_query", "parameter 'status' must be pending, "
                                                             "delivered or failed");
    }
    const char *cursor = mc_api_query_get(&c->query, "cursor");
    mc_api_cursor cur = {.created_us = INT64_MAX};
    if (cursor && mc_api_cursor_decode(&c->srv->cursor_key, c->caller.tenant, cursor, &cur, &err) < 0)
        return mc_api_fail(r, 400, "invalid_cursor", "%s", err.msg);
    if (cursor && strcmp(cur.id, id) != 0)
        return mc_api_fail(r, 400, "invalid_cursor", "parameter 'cursor' belongs to another list");
    json_t *e = load_endpoint(c, r, id);
    if (!e) return -1;
    json_decref(e);
    mc_db_rows rows;
    if (mc_db_query(c->srv->svc.db, MC_DB_MASTER,
                    "SELECT " DELIVERY_COLUMNS " FROM webhook_deliveries d JOIN webhook_events ev "
                    "ON ev.id = d.event_id WHERE d.endpoint_id = ? AND d.tenant_id = ? AND "
                    "d.seq < ? AND (? OR d.status = ?) ORDER BY d.seq DESC LIMIT ?",
                    MC_DB_ARGS(mc_db_str(id), mc_db_str(c->caller.tenant), mc_db_i64(cur.created_us),
                               mc_db_i64(status == NULL), mc_db_str(status ? status : ""),
                               mc_db_i64(limit + 1)),
                    &rows, &err) < 0)
        return mc_api_fail_err(c, r, &err);
    json_t *data = json_array();
    size_t shown = rows.nrows > (size_t)limit ? (size_t)limit : rows.nrows;
    for (size_t i = 0; i < shown; i++) json_array_append_new(data, delivery_json(&rows, i));
    /* the cursor: the last row's seq, bound to this endpoint */
    mc_api_cursor last = {.created_us = rows.nrows > (size_t)limit
                                            ? strtoll(mc_db_rows_get(&rows, shown - 1, 0), NULL, 10) : 0};
    snprintf(last.id, sizeof last.id, "%s", id);
    bool more = rows.nrows > (size_t)limit;
    mc_db_rows_free(&rows);
    return mc_api_page(c, r, data, more ? &last : NULL);
}

/* POST /v1/webhooks/{id}/deliveries/{delivery_id}/retry: the delivery is
 * sent again at once (same webhook-id, so receivers may dedupe), whatever
 * its status; its attempts keep counting. */
int mc_api_webhook_retry(mc_api_ctx *c, mc_api_resp *r, const char *id) {
    const char *did = c->id2;
    mc_err err = {0};
    mc_db_info info = {0};
    if (no_query(c, r) < 0) return -1;
    json_t *e = load_endpoint(c, r, id);
    if (!e) return -1;
    bool enabled = json_is_true(json_object_get(e, "enabled"));
    json_decref(e);
    if (!enabled)
        return mc_api_fail(r, 409, "webhook_disabled", "webhook endpoint %s is disabled: enable it "
                                                       "(PATCH enabled=true) to send", id);
    if (!did || strlen(did) > 64 || !mc_token_name_valid(did))
        return mc_api_fail(r, 404, "delivery_not_found", "no delivery %.64s", did ? did : "");
    if (mc_db_exec(c->srv->svc.db, MC_DB_MASTER,
                   "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = "
                   "UTC_TIMESTAMP(6) WHERE id = ? AND endpoint_id = ? AND tenant_id = ?",
                   MC_DB_ARGS(mc_db_str(did), mc_db_str(id), mc_db_str(c->caller.tenant)), &info,
                   &err) < 0)
        return mc_api_fail_err(c, r, &err);
    mc_db_rows rows;
    if (mc_db_query(c->srv->svc.db, MC_DB_MASTER,
                    "SELECT " DELIVERY_COLUMNS " FROM webhook_deliveries d JOIN webhook_events ev "
                    "ON ev.id = d.event_id WHERE d.id = ? AND d.endpoint_id = ? AND d.tenant_id = ?",
                    MC_DB_ARGS(mc_db_str(did), mc_db_str(id), mc_db_str(c->caller.tenant)), &rows,
                    &err) < 0)
        return mc_api_fail_err(c, r, &err);
    json_t *d = rows.nrows ? delivery_json(&rows, 0) : NULL;
    mc_db_rows_free(&rows);
    if (!d) return mc_api_fail(r, 404, "delivery_not_found", "no delivery %s", did);
    mc_api_webhooks_nudge(c->srv);
    mc_log_kv(MC_LOG_INFO, "webhook delivery replayed", "request_id", c->request_id, "delivery",
              did, NULL);
    return mc_api_ok(r, 202, d);
}
