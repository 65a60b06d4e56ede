/* playback_doc.c — a ready video's signed playback URLs as JSON (see
 * playback_doc.h), shared by the command line and mcloud-api. */
#include "common/playback_doc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/playback.h"

/* The signed URL of one output (or of the page, path ""), granting scope. */
static int add_url(json_t *obj, const char *field, const mc_playback_signer *s, const char *tenant,
                   const char *video_id, const char *scope, const char *path, mc_err *err) {
    char *url = mc_playback_url(s->base_url, s->key, tenant, video_id, scope, path, s->exp, err);
    if (!url) return -1;
    json_object_set_new(obj, field, json_string(url));
    free(url);
    return 0;
}

/* Every progressive rung under the published prefix, largest first. */
static int add_mp4_rungs(json_t *doc, mc_db *db, mc_db_target target, const mc_playback_signer *s,
                         const char *tenant, const char *video_id, const char *prefix,
                         bool *has_video, mc_err *err) {
    mc_db_rows rows;
    if (mc_db_query(db, target,
                    "SELECT name, object_key, width FROM renditions WHERE video_id = ? AND "
                    "kind = 'mp4' ORDER BY width * height DESC, name",
                    MC_DB_ARGS(mc_db_str(video_id)), &rows, err) < 0)
        return -1;
    json_t *mp4 = json_object();
    json_object_set_new(doc, "mp4", mp4);
    size_t plen = strlen(prefix);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < rows.nrows; i++) {
        const char *key = mc_db_rows_get(&rows, i, 1);
        if (strncmp(key, prefix, plen) != 0) continue; /* an older attempt's row */
        if (atoi(mc_db_rows_get(&rows, i, 2)) > 0) *has_video = true;
        rc = add_url(mp4, mc_db_rows_get(&rows, i, 0), s, tenant, video_id, key + plen,
                     key + plen, err);
    }
    mc_db_rows_free(&rows);
    return rc;
}

json_t *mc_playback_doc(mc_db *db, mc_db_target target, const mc_playback_signer *s,
                        const char *tenant, const char *video_id, const char *prefix, mc_err *err) {
    json_t *doc = json_object();
    if (!doc) {
        mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    json_object_set_new(doc, "video", json_string(video_id));
    bool has_video = false;
    if (add_url(doc, "page", s, tenant, video_id, "", "", err) < 0 ||
        add_url(doc, "hls", s, tenant, video_id, "hls/", "hls/master.m3u8", err) < 0 ||
        (prefix && add_mp4_rungs(doc, db, target, s, tenant, video_id, prefix, &has_video, err) < 0) ||
        (has_video &&  /* audio-only videos have no poster */
         add_url(doc, "poster", s, tenant, video_id, "thumbs/", "thumbs/poster.jpg", err) < 0)) {
        json_decref(doc);
        return NULL;
    }
    json_object_set_new(doc, "expires_at", json_integer(s->exp));
    return doc;
}
