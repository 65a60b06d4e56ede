/* videos.c — ready videos from MySQL with a short-lived lookup table (see
 * videos.h). The table is a fixed array indexed by a hash of the id: a
 * collision only costs a query, and memory stays bounded whatever ids
 * players send. When a row expires, one request re-reads it while the
 * others go on with the old one. */
#include "stream/videos.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/http.h"

#define SLOTS 1024
#define ID_MAX 64

typedef struct slot {
    char id[ID_MAX + 1];
    double fetched;   /* monotonic seconds; 0: empty */
    bool refreshing;  /* one request re-reads an expired row; the others keep it meanwhile */
    mc_stream_video video;
} slot;

struct mc_stream_videos {
    mc_db *db;
    double ttl_s;
    pthread_mutex_t lock;
    slot slots[SLOTS];
};

mc_stream_videos *mc_stream_videos_new(mc_db *db, long ttl_ms, mc_err *err) {
    mc_stream_videos *v = calloc(1, sizeof *v);
    if (!v) {
        mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    v->db = db;
    v->ttl_s = (double)ttl_ms / 1000.0;
    pthread_mutex_init(&v->lock, NULL);
    return v;
}

void mc_stream_videos_free(mc_stream_videos *v) {
    if (!v) return;
    pthread_mutex_destroy(&v->lock);
    free(v);
}

static slot *slot_of(mc_stream_videos *v, const char *id) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = id; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
    return &v->slots[h % SLOTS];
}

/* A remembered row: fresh, or expired while another request re-reads it.
 * An expired row with no refresh under way is left to this caller to
 * re-read (false), so a burst of requests costs one query, not one each. */
static bool remembered(mc_stream_videos *v, const char *id, mc_stream_video *out) {
    bool hit = false;
    pthread_mutex_lock(&v->lock);
    slot *s = slot_of(v, id);
    if (s->fetched > 0 && strcmp(s->id, id) == 0) {
        bool fresh = mc_monotonic_seconds() - s->fetched < v->ttl_s;
        if (fresh || s->refreshing) {
            *out = s->video;
            hit = true;
        } else {
            s->refreshing = true;
        }
    }
    pthread_mutex_unlock(&v->lock);
    return hit;
}

/* After a re-read: the new row, or (found == false) the slot emptied. */
static void remember(mc_stream_videos *v, const char *id, const mc_stream_video *video) {
    pthread_mutex_lock(&v->lock);
    slot *s = slot_of(v, id);
    if (video) {
        snprintf(s->id, sizeof s->id, "%s", id);
        s->video = *video;
        s->fetched = mc_monotonic_seconds();
        s->refreshing = false;
    } else if (strcmp(s->id, id) == 0) {
        s->fetched = 0;
        s->refreshing = false;
    }
    pthread_mutex_unlock(&v->lock);
}

/* 1 found and ready or playable, 0 not (yet), -1 error. */
static int query_ready(mc_db *db, mc_db_target target, const char *id, mc_stream_video *out,
                       mc_err *err) {
    mc_db_rows rows;
    if (mc_db_query(db, target,
                    "SELECT tenant_id, title, IF(status = 'ready', published_prefix, playable_prefix), "
                    "status = 'ready' FROM videos WHERE id = ? AND deleted_at IS NULL AND "
                    /* a tombstone is never served (mcloud-api DELETE) */
                    "((status = 'ready' AND published_prefix IS NOT NULL) OR "
                    "(status = 'transcoding' AND playable = 1 AND playable_prefix IS NOT NULL))",
                    MC_DB_ARGS(mc_db_str(id)), &rows, err) < 0)
        return -1;
    int found = rows.nrows > 0;
    if (found) {
        snprintf(out->tenant, sizeof out->tenant, "%s", mc_db_rows_get(&rows, 0, 0));
        snprintf(out->title, sizeof out->title, "%s", mc_db_rows_get(&rows, 0, 1));
        snprintf(out->prefix, sizeof out->prefix, "%s", mc_db_rows_get(&rows, 0, 2));
        out->ready = atoi(mc_db_rows_get(&rows, 0, 3)) != 0;
    }
    mc_db_rows_free(&rows);
    return found;
}

/* query_ready's answer as the lookups return it. */
static int lookup_result(int found, const char *id, mc_err *err) {
    if (found < 0) return -1;
    if (found == 0) return mc_err_set(err, MC_ERR_NOT_FOUND, "video %s is unknown or not playable yet", id);
    return 0;
}

int mc_stream_videos_lookup(mc_stream_videos *v, const char *id, mc_stream_video *out, mc_err *err) {
    if (remembered(v, id, out)) return 0;
    int found = query_ready(v->db, MC_DB_REPLICA, id, out, err);
    if (found == 0) found = query_ready(v->db, MC_DB_MASTER, id, out, err);
    remember(v, id, found > 0 ? out : NULL); /* also ends a refresh that failed */
    return lookup_result(found, id, err);
}

int mc_stream_videos_reread(mc_stream_videos *v, const char *id, mc_stream_video *out, mc_err *err) {
    int found = query_ready(v->db, MC_DB_MASTER, id, out, err);
    if (found >= 0) remember(v, id, found > 0 ? out : NULL);
    return lookup_result(found, id, err);
}

json_t *mc_stream_videos_rungs(mc_stream_videos *v, const char *id, const mc_stream_video *video,
                               mc_err *err) {
    mc_db_rows rows;
    if (mc_db_query(v->db, MC_DB_REPLICA,
                    "SELECT name, object_key, width, height FROM renditions "
                    "WHERE video_id = ? AND kind = 'mp4' ORDER BY width * height DESC, name",
                    MC_DB_ARGS(mc_db_str(id)), &rows, err) < 0)
        return NULL;
    json_t *rungs = json_array();
    size_t plen = strlen(video->prefix);
    for (size_t i = 0; i < rows.nrows; i++) {
        const char *key = mc_db_rows_get(&rows, i, 1);
        if (!key || strncmp(key, video->prefix, plen) != 0) continue; /* another attempt's row */
        json_array_append_new(rungs, json_pack("{s:s, s:s, s:I, s:I}", "name",
                                               mc_db_rows_get(&rows, i, 0), "url", key + plen,
                                               "width", (json_int_t)atoll(mc_db_rows_get(&rows, i, 2)),
                                               "height", (json_int_t)atoll(mc_db_rows_get(&rows, i, 3))));
    }
    mc_db_rows_free(&rows);
    return rungs;
}
