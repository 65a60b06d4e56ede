/* uploads.c — POST /v1/uploads: a direct upload. The API reserves the video
 * (a row in status uploading, with the caller's title, description and
 * metadata) and mints an upload token for the app's own client that names
 * that video: mcloud-upload lets it create exactly one plain tus upload,
 * of that video, up to max_size_bytes, until it expires, and refuses every
 * other upload with it. The bytes never pass through the app's backend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "common/log.h"
#include "common/uuid.h"

static int reserve_video(mc_api_ctx *c, const mc_api_upload_request *q, const char *id,
                         mc_err *err) {
    char *meta = q->video.metadata ? json_dumps(q->video.metadata, JSON_COMPACT | JSON_SORT_KEYS)
                                   : NULL;
    int rc = mc_db_exec(c->srv->svc.db, MC_DB_MASTER,
                        "INSERT INTO videos (id, tenant_id, title, description, metadata, status) "
                        "VALUES (?, ?, ?, ?, ?, 'uploading')",
                        MC_DB_ARGS(mc_db_str(id), mc_db_str(c->caller.tenant),
                                   mc_db_str(q->video.title ? q->video.title : ""),
                                   mc_db_str(q->video.description),
                                   meta ? mc_db_str(meta) : mc_db_null()),
                        NULL, err);
    free(meta);
    return rc;
}

int mc_api_uploads_create(mc_api_ctx *c, mc_api_resp *r) {
    mc_api_settings *set = &c->srv->set;
    mc_api_upload_request q;
    mc_err err = {0};
    if (c->query.count) return mc_api_fail(r, 400, "invalid_query", "this resource takes no "
                                                                     "query parameters");
    if (mc_api_upload_request_parse(c->body, set->upload_max_size, 7 * 86400, &q, &err) < 0)
        return mc_api_fail(r, 400, "invalid_body", "%s", err.msg);
    char id[MC_UUID_LEN + 1];
    if (mc_uuid_v4(id, &err) < 0 || reserve_video(c, &q, id, &err) < 0)
        return mc_api_fail_err(c, r, &err);
    mc_token_claims claims = {.exp = (int64_t)time(NULL) +
                                     (q.expires_in_s ? q.expires_in_s : set->upload_ttl_s),
                              .max_upload_bytes = q.max_size_bytes ? q.max_size_bytes
                                                                   : set->upload_max_size,
                              .scope_count = 1};
    snprintf(claims.tenant, sizeof claims.tenant, "%s", c->caller.tenant);
    snprintf(claims.video, sizeof claims.video, "%s", id);
    strcpy(claims.scopes[0], "upload");
    char *token = NULL;
    if (mc_token_mint(&c->srv->token_key, &claims, &token, &err) < 0)
        return mc_api_fail_err(c, r, &err);
    char endpoint[300], exp_db[32], exp_iso[32];
    snprintf(endpoint, sizeof endpoint, "%s/files/", set->upload_public_url);
    mc_api_time_to_db(claims.exp * 1000000, exp_db);
    mc_api_time_from_db(exp_db, exp_iso);
    json_t *up = json_object();
    json_object_set_new(up, "endpoint", json_string(endpoint));
    json_object_set_new(up, "token", json_string(token));
    json_object_set_new(up, "protocol", json_string("tus 1.0.0"));
    json_object_set_new(up, "max_size_bytes", json_integer(claims.max_upload_bytes));
    json_object_set_new(up, "expires_at", json_string(exp_iso));
    free(token);
    json_t *out = json_object();
    json_object_set_new(out, "video_id", json_string(id));
    json_object_set_new(out, "upload", up);
    snprintf(r->location, sizeof r->location, "/v1/videos/%s", id);
    mc_log_kv(MC_LOG_INFO, "direct upload reserved", "request_id", c->request_id, "video", id,
              "tenant", c->caller.tenant, NULL);
    return mc_api_ok(r, 201, out);
}
