/* idempotency.c — Idempotency-Key on POST, kept in MySQL (table
 * idempotency_keys, per tenant) for 24 h.
 *
 * The first request with a key inserts its row (status 0: running), runs,
 * and stores its answer; a second request with the same key and the same
 * method, path and body gets that answer again (Idempotent-Replayed:
 * true), with another body 422, while the first still runs 409 (for at
 * most ABANDONED_S: then it is taken as abandoned by a killed daemon). A
 * first answer of 5xx is not kept: the client may retry with the same key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "common/apikey.h"
#include "common/json.h"

/* A row still "running" after this long belongs to a request whose daemon
 * died (a request's work is a few statements and S3 deletes): the key is
 * free again rather than 409 for a day. */
#define ABANDONED_S "120"

static void request_hash(mc_api_ctx *c, char hex[65]) {
    const char *body = c->req->body ? c->req->body : "";
    size_t blen = c->req->body_len, plen = strlen(c->req->path);
    char *buf = malloc(plen + blen + 16);
    if (!buf) {
        memset(hex, '0', 64);
        hex[64] = '\0';
        return;
    }
    int n = snprintf(buf, plen + 16, "%s %s\n", c->req->method, c->req->path);
    memcpy(buf + n, body, blen);
    mc_apikey_hash(buf, (size_t)n + blen, hex);
    free(buf);
}

static int replay(mc_api_ctx *c, mc_api_idem *idem, mc_api_resp *r) {
    mc_err err = {0};
    mc_db_rows rows;
    if (mc_db_query(c->srv->svc.db, MC_DB_MASTER,
                    "SELECT request_hash, status, response_body FROM idempotency_keys WHERE "
                    "tenant_id = ? AND idem_key = ?",
                    MC_DB_ARGS(mc_db_str(c->caller.tenant), mc_db_str(idem->key)), &rows, &err) < 0)
        return mc_api_fail_err(c, r, &err), 1;
    if (rows.nrows == 0) {
        mc_db_rows_free(&rows);
        mc_api_fail(r, 409, "idempotency_in_flight", "a request with this Idempotency-Key just "
                                                     "finished failing; retry");
        return 1;
    }
    const char *hash = mc_db_rows_get(&rows, 0, 0);
    int status = atoi(mc_db_rows_get(&rows, 0, 1));
    const char *stored = mc_db_rows_get(&rows, 0, 2);
    if (strcmp(hash, idem->hash) != 0) {
        mc_api_fail(r, 422, "idempotency_key_reused", "this Idempotency-Key was used with another "
                                                      "request (method, path or body)");
    } else if (status == 0) {
        mc_api_fail(r, 409, "idempotency_in_flight", "the first request with this Idempotency-Key "
                                                     "is still running; retry shortly");
    } else {
        json_t *env = stored ? json_loads(stored, 0, NULL) : NULL;
        json_t *body = json_object_get(env, "body");
        const char *loc = json_string_value(json_object_get(env, "location"));
        r->status = status;
        r->body = body ? json_incref(body) : NULL;
        if (status >= 400) r->content_type = "application/problem+json";
        if (loc) snprintf(r->location, sizeof r->location, "%s", loc);
        r->replayed = true;
        json_decref(env);
    }
    mc_db_rows_free(&rows);
    return 1;
}

int mc_api_idem_begin(mc_api_ctx *c, mc_api_idem *idem, mc_api_resp *r) {
    const char *key = mc_http_header(c->req, "Idempotency-Key");
    if (!key) return 0;
    if (!mc_api_idempotency_key_valid(key)) {
        mc_api_fail(r, 400, "invalid_idempotency_key",
                    "header Idempotency-Key must be 1 to 255 visible ASCII characters");
        return 1;
    }
    snprintf(idem->key, sizeof idem->key, "%s", key);
    request_hash(c, idem->hash);
    mc_err err = {0};
    mc_db *db = c->srv->svc.db;
    if (mc_db_exec(db, MC_DB_MASTER,
                   "DELETE FROM idempotency_keys WHERE tenant_id = ? AND idem_key = ? AND "
                   "(created_at < UTC_TIMESTAMP(6) - INTERVAL 24 HOUR OR (status = 0 AND "
                   "created_at < UTC_TIMESTAMP(6) - INTERVAL " ABANDONED_S " SECOND))",
                   MC_DB_ARGS(mc_db_str(c->caller.tenant), mc_db_str(idem->key)), NULL, &err) < 0) {
        mc_api_fail_err(c, r, &err);
        return 1;
    }
    if (mc_db_exec(db, MC_DB_MASTER,
                   "INSERT INTO idempotency_keys (tenant_id, idem_key, request_hash, status) "
                   "VALUES (?, ?, ?, 0)",
                   MC_DB_ARGS(mc_db_str(c->caller.tenant), mc_db_str(idem->key),
                              mc_db_str(idem->hash)), NULL, &err) == 0) {
        idem->active = true;
        return 0;
    }
    if (err.kind != MC_ERR_CONFLICT) {
        mc_api_fail_err(c, r, &err);
        return 1;
    }
    return replay(c, idem, r);
}

void mc_api_idem_finish(mc_api_ctx *c, mc_api_idem *idem, const mc_api_resp *r) {
    mc_err err = {0};
    mc_db *db = c->srv->svc.db;
    if (r->status >= 500) {
        mc_db_exec(db, MC_DB_MASTER, "DELETE FROM idempotency_keys WHERE tenant_id = ? AND "
                                     "idem_key = ?",
                   MC_DB_ARGS(mc_db_str(c->caller.tenant), mc_db_str(idem->key)), NULL, &err);
        return;
    }
    json_t *env = json_object();
    json_object_set(env, "body", r->body ? r->body : json_null());
    if (r->location[0]) json_object_set_new(env, "location", json_string(r->location));
    char *text = mc_json_dump(env);
    json_decref(env);
    mc_db_exec(db, MC_DB_MASTER,
               "UPDATE idempotency_keys SET status = ?, response_body = ? WHERE tenant_id = ? AND "
               "idem_key = ?",
               MC_DB_ARGS(mc_db_i64(r->status), mc_db_str(text), mc_db_str(c->caller.tenant),
                          mc_db_str(idem->key)), NULL, &err);
    free(text);
}
