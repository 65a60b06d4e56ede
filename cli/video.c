/* video.c — a video's status and published outputs for the command line
 * (see video.h). Reads go to the master: the command asks right after the
 * change it waits for, and a lagging replica would only make it wait. */
#include "cli/video.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_MS 1000

typedef struct video_status {
    char status[32];
    char reason[1024];
    double progress;            /* 0 to 1, of the newest job */
    char prefix[1024];          /* published_prefix when ready */
} video_status;

static int read_status(mc_db *db, const char *video_id, video_status *v, mc_err *err) {
    mc_db_rows rows;
    if (mc_db_query(db, MC_DB_MASTER,
                    "SELECT v.status, COALESCE(v.failure_reason, ''), COALESCE((SELECT j.progress "
                    "FROM jobs j WHERE j.video_id = v.id ORDER BY j.updated_at DESC LIMIT 1), 0), "
                    "COALESCE(v.published_prefix, '') FROM videos v WHERE v.id = ?",
                    MC_DB_ARGS(mc_db_str(video_id)), &rows, err) < 0)
        return -1;
    if (rows.nrows == 0) {
        mc_db_rows_free(&rows);
        return mc_err_set(err, MC_ERR_NOT_FOUND, "no video %s", video_id);
    }
    snprintf(v->status, sizeof v->status, "%s", mc_db_rows_get(&rows, 0, 0));
    snprintf(v->reason, sizeof v->reason, "%s", mc_db_rows_get(&rows, 0, 1));
    v->progress = strtod(mc_db_rows_get(&rows, 0, 2), NULL);
    snprintf(v->prefix, sizeof v->prefix, "%s", mc_db_rows_get(&rows, 0, 3));
    mc_db_rows_free(&rows);
    return 0;
}

static void sleep_ms(long ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) continue;
}

int mc_cli_video_wait(mc_db *db, const char *video_id, long timeout_s, FILE *out, mc_err *err) {
    time_t deadline = timeout_s > 0 ? time(NULL) + timeout_s : 0;
    char last[64] = "";
    for (;;) {
        video_status v;
        if (read_status(db, video_id, &v, err) < 0) return -1;
        if (strcmp(v.status, "ready") == 0) {
            fprintf(out, "video %s: ready\n", video_id);
            return 0;
        }
        if (strcmp(v.status, "failed") == 0)
            return mc_err_set(err, MC_ERR_INVALID, "video %s failed: %s", video_id, v.reason);
        char now[64];
        snprintf(now, sizeof now, "%s %d%%", v.status, (int)(v.progress * 100));
        if (strcmp(now, last) != 0) {
            fprintf(out, "video %s: %s\n", video_id, now);
            fflush(out);
            snprintf(last, sizeof last, "%s", now);
        }
        if (deadline && time(NULL) >= deadline)
            return mc_err_set(err, MC_ERR_UNAVAILABLE,
                              "video %s still %s after %ld s (is mcloud-transcode running?)",
                              video_id, v.status, timeout_s);
        sleep_ms(POLL_MS);
    }
}

static int add_presigned(json_t *obj, const char *field, mc_s3 *s3, const char *key,
                         long expires_s, mc_err *err) {
    char *url = mc_s3_presign_get(s3, key, expires_s, time(NULL), err);
    if (!url) return -1;
    json_object_set_new(obj, field, json_string(url));
    free(url);
    return 0;
}

static int add_renditions(json_t *doc, mc_db *db, mc_s3 *s3, const char *video_id,
                          long expires_s, mc_err *err) {
    mc_db_rows rows;
    if (mc_db_query(db, MC_DB_MASTER,
                    "SELECT name, kind, object_key FROM renditions WHERE video_id = ? "
                    "ORDER BY height DESC, name",
                    MC_DB_ARGS(mc_db_str(video_id)), &rows, err) < 0)
        return -1;
    json_t *mp4 = json_object(), *hls = json_object();
    json_object_set_new(doc, "mp4", mp4);
    json_object_set_new(doc, "hls_keys", hls);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < rows.nrows; i++) {
        const char *name = mc_db_rows_get(&rows, i, 0), *kind = mc_db_rows_get(&rows, i, 1),
                   *key = mc_db_rows_get(&rows, i, 2);
        if (strcmp(kind, "mp4") == 0) rc = add_presigned(mp4, name, s3, key, expires_s, err);
        else json_object_set_new(hls, name, json_string(key));
    }
    mc_db_rows_free(&rows);
    return rc;
}

int mc_cli_video_urls(mc_db *db, mc_s3 *s3, const char *video_id, long expires_s, FILE *out,
                      mc_err *err) {
    video_status v;
    if (read_status(db, video_id, &v, err) < 0) return -1;
    if (strcmp(v.status, "ready") != 0 || !v.prefix[0])
        return mc_err_set(err, MC_ERR_CONFLICT, "video %s is %s, not ready%s%s", video_id,
                          v.status, v.reason[0] ? ": " : "", v.reason);
    json_t *doc = json_object();
    json_object_set_new(doc, "video", json_string(video_id));
    char key[1200];
    snprintf(key, sizeof key, "%shls/master.m3u8", v.prefix);
    json_object_set_new(doc, "hls_master_key", json_string(key));
    snprintf(key, sizeof key, "%sthumbs/poster.jpg", v.prefix);
    mc_s3_object_info info;
    mc_err no_poster = {0}; /* audio-only videos have none */
    int rc = 0;
    if (mc_s3_head_object(s3, key, &info, &no_poster) == 0)
        rc = add_presigned(doc, "poster", s3, key, expires_s, err);
    if (rc == 0) rc = add_renditions(doc, db, s3, video_id, expires_s, err);
    if (rc == 0) {
        char *text = json_dumps(doc, JSON_INDENT(2));
        fprintf(out, "%s\n", text ? text : "{}");
        free(text);
    }
    json_decref(doc);
    return rc;
}
