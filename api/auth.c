/* auth.c — who is calling: the API key of the Authorization header, looked
 * up by its SHA-256 among the keys not revoked. Read from the master so a
 * key works the moment it is created and stops the moment it is revoked. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "common/apikey.h"

int mc_api_authenticate(mc_api_ctx *c, mc_api_resp *r) {
    const char *v = mc_http_header(c->req, "Authorization");
    const char *key;
    size_t len;
    mc_err err = {0};
    if (mc_token_from_authorization(v, v ? strlen(v) : 0, &key, &len, &err) < 0)
        return mc_api_fail(r, 401, "unauthenticated", "an API key is required "
                                                      "(Authorization: Bearer mck_...)");
    if (len != MC_APIKEY_LEN || strncmp(key, MC_APIKEY_PREFIX, 4) != 0)
        return mc_api_fail(r, 401, "invalid_api_key", "the API key is not valid");
    char hash[65];
    mc_apikey_hash(key, len, hash);
    mc_db_rows rows;
    if (mc_db_query(c->srv->svc.db, MC_DB_MASTER,
                    "SELECT id, tenant_id, scopes FROM api_keys WHERE key_hash = ? AND "
                    "revoked_at IS NULL",
                    MC_DB_ARGS(mc_db_str(hash)), &rows, &err) < 0)
        return mc_api_fail_err(c, r, &err);
    int rc = 0;
    if (rows.nrows != 1) {
        rc = mc_api_fail(r, 401, "invalid_api_key", "the API key is not valid (unknown or revoked)");
    } else {
        snprintf(c->caller.key_id, sizeof c->caller.key_id, "%s", mc_db_rows_get(&rows, 0, 0));
        snprintf(c->caller.tenant, sizeof c->caller.tenant, "%s", mc_db_rows_get(&rows, 0, 1));
        const char *scopes = mc_db_rows_get(&rows, 0, 2);
        if (mc_api_scopes_parse(scopes ? scopes : "", &c->caller.scopes, &err) < 0)
            c->caller.scopes = 0; /* a row with a scope this build does not know grants none */
    }
    mc_db_rows_free(&rows);
    return rc;
}
