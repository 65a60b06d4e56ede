/* keys.c — /v1/api-keys: a tenant's admins create, list and revoke the
 * tenant's keys. The secret is in the creation's answer only; listings show
 * the key's prefix. Revoking is immediate (auth reads the master). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "common/apikey.h"
#include "common/log.h"

static json_t *key_json(const char *id, const char *name, const char *prefix, unsigned scopes,
                        const char *created, const char *revoked) {
    json_t *k = json_object();
    char t[32];
    json_object_set_new(k, "id", json_string(id));
    json_object_set_new(k, "name", json_string(name ? name : ""));
    json_object_set_new(k, "prefix", json_string(prefix));
    json_object_set_new(k, "scopes", mc_api_scopes_json(scopes));
    json_object_set_new(k, "created_at", created && mc_api_time_from_db(created, t) == 0
                                             ? json_string(t) : json_null());
    json_object_set_new(k, "revoked_at", revoked && mc_api_time_from_db(revoked, t) == 0
                                             ? json_string(t) : json_null());
    return k;
}

int mc_api_keys_create(mc_api_ctx *c, mc_api_resp *r) {
    mc_api_key_request q;
    mc_err err = {0};
    if (c->query.count) return mc_api_fail(r, 400, "invalid_query", "this resource takes no "
                                                                     "query parameters");
    if (mc_api_key_request_parse(c->body, &q, &err) < 0)
        return mc_api_fail(r, 400, "invalid_body", "%s", err.msg);
    char scopes[64];
    mc_api_scopes_format(q.scopes, scopes, sizeof scopes);
    mc_apikey_new k;
    if (mc_apikey_create(c->srv->svc.db, c->caller.tenant, q.name, scopes, &k, &err) < 0)
        return mc_api_fail_err(c, r, &err);
    json_t *out = key_json(k.id, q.name, k.prefix, q.scopes, NULL, NULL);
    json_object_set_new(out, "key", json_string(k.key));
    snprintf(r->location, sizeof r->location, "/v1/api-keys/%s", k.id);
    mc_log_kv(MC_LOG_INFO, "api key created", "request_id", c->request_id, "id", k.id, "tenant",
              c->caller.tenant, NULL);
    return mc_api_ok(r, 201, out);
}

int mc_api_keys_list(mc_api_ctx *c, mc_api_resp *r) {
    mc_err err = {0};
    if (c->query.count) return mc_api_fail(r, 400, "invalid_query", "this resource takes no "
                                                                     "query parameters");
    mc_db_rows rows;
    if (mc_db_query(c->srv->svc.db, MC_DB_MASTER,
                    "SELECT id, name, key_prefix, scopes, created_at, revoked_at FROM api_keys "
                    "WHERE tenant_id = ? ORDER BY created_at DESC, id DESC LIMIT 1000",
                    MC_DB_ARGS(mc_db_str(c->caller.tenant)), &rows, &err) < 0)
        return mc_api_fail_err(c, r, &err);
    json_t *data = json_array();
    for (size_t i = 0; i < rows.nrows; i++) {
        unsigned scopes = 0;
        mc_err ignored = {0};
        mc_api_scopes_parse(mc_db_rows_get(&rows, i, 3), &scopes, &ignored);
        json_array_append_new(data, key_json(mc_db_rows_get(&rows, i, 0),
                                             mc_db_rows_get(&rows, i, 1),
                                             mc_db_rows_get(&rows, i, 2), scopes,
                                             mc_db_rows_get(&rows, i, 4),
                                             mc_db_rows_get(&rows, i, 5)));
    }
    mc_db_rows_free(&rows);
    json_t *out = json_object();
    json_object_set_new(out, "data", data);
    return mc_api_ok(r, 200, out);
}

int mc_api_keys_revoke(mc_api_ctx *c, mc_api_resp *r, const char *id) {
    mc_err err = {0};
    mc_db_info info = {0};
    if (!mc_token_name_valid(id)) /* never a key id: not worth a query (nor an ASCII column's error) */
        return mc_api_fail(r, 404, "api_key_not_found", "no API key %.64s", id);
    if (mc_db_exec(c->srv->svc.db, MC_DB_MASTER,
                   "UPDATE api_keys SET revoked_at = UTC_TIMESTAMP(6) WHERE id = ? AND "
                   "tenant_id = ? AND revoked_at IS NULL",
                   MC_DB_ARGS(mc_db_str(id), mc_db_str(c->caller.tenant)), &info, &err) < 0)
        return mc_api_fail_err(c, r, &err);
    if (info.affected_rows == 0)
        return mc_api_fail(r, 404, "api_key_not_found", "no active API key %s", id);
    mc_log_kv(MC_LOG_INFO, "api key revoked", "request_id", c->request_id, "id", id, NULL);
    r->status = 204;
    return 0;
}
