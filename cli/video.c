/* video.c — a video's status and published outputs for the command line
 * (see video.h): through mcloud-api (cli/api.h) by default; with --local
 * from MySQL, where reads go to the master: the command asks right after
 * the change it waits for, and a lagging replica would only make it wait. */
#include "cli/video.h"

#include "cli/api.h"

#include "common/playback_doc.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_MS 1000
#define API_RETRIES 30 /* consecutive 429/5xx/unreachable answers tolerated while waiting */

typedef struct video_status {
    char status[32];
    char reason[1024];
    double progress;            /* 0 to 1, of the newest job */
    char prefix[1024];          /* published_prefix when ready */
    char tenant[72];
    bool playable;              /* its HLS plays, growing while it transcodes */
    double playable_s;          /* seconds published so far */
} video_status;

static int read_status(mc_db *db, const char *video_id, video_status *v, mc_err *err) {
    mc_db_rows rows;
    if (mc_db_query(db, MC_DB_MASTER,
                    "SELECT v.status, COALESCE(v.failure_reason, ''), COALESCE((SELECT j.progress "
                    "FROM jobs j WHERE j.video_id = v.id ORDER BY j.updated_at DESC LIMIT 1), 0), "
                    "COALESCE(v.published_prefix, ''), v.tenant_id, v.playable, COALESCE(v.playable_seconds, 0) "
                    "FROM videos v WHERE v.id = ?",
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
    snprintf(v->tenant, sizeof v->tenant, "%s", mc_db_rows_get(&rows, 0, 4));
    v->playable = atoi(mc_db_rows_get(&rows, 0, 5)) != 0;
    v->playable_s = strtod(mc_db_rows_get(&rows, 0, 6), NULL);
    mc_db_rows_free(&rows);
    return 0;
}

static void sleep_ms(long ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) continue;
}

/* The status line of a video as `wait` prints it ("transcoding 42%"). */
static void status_line(const char *status, double progress, char *out, size_t cap) {
    snprintf(out, cap, "%s %d%%", status, (int)(progress * 100));
}

/* The end of one polling turn of a wait: the status line when it changed,
 * the deadline, the pause before the next turn. -1 once the time is up. */
static int wait_turn(FILE *out, const char *video_id, const char *now, char *last, size_t lastcap,
                     const char *status, time_t deadline, long timeout_s, mc_err *err) {
    if (strcmp(now, last) != 0) {
        fprintf(out, "video %s: %s\n", video_id, now);
        fflush(out);
        snprintf(last, lastcap, "%s", now);
    }
    if (deadline && time(NULL) >= deadline)
        return mc_err_set(err, MC_ERR_UNAVAILABLE, "video %s still %s after %ld s (is mcloud-transcode running?)",
                          video_id, status, timeout_s);
    sleep_ms(POLL_MS);
    return 0;
}

int mc_cli_video_wait(mc_db *db, const char *video_id, long timeout_s, bool until_playable,
                      FILE *out, mc_err *err) {
    time_t deadline = timeout_s > 0 ? time(NULL) + timeout_s : 0;
    char last[96] = ""; /* the last status line printed (as large as now) */
    for (;;) {
        video_status v;
        if (read_status(db, video_id, &v, err) < 0) return -1;
        if (strcmp(v.status, "ready") == 0) {
            fprintf(out, "video %s: ready\n", video_id);
            return 0;
        }
        if (strcmp(v.status, "failed") == 0)
            return mc_err_set(err, MC_ERR_INVALID, "video %s failed: %s", video_id, v.reason);
        char now[96];
        status_line(v.status, v.progress, now, sizeof now);
        if (v.playable)
            snprintf(now + strlen(now), sizeof now - strlen(now), ", playable (%.0f s published)",
                     v.playable_s);
        if (until_playable && v.playable) {
            fprintf(out, "video %s: %s\n", video_id, now);
            return 0;
        }
        if (wait_turn(out, video_id, now, last, sizeof last, v.status, deadline, timeout_s, err) < 0) return -1;
    }
}

int mc_cli_video_wait_api(const char *video_id, long timeout_s, bool until_playable, FILE *out,
                          mc_err *err) {
    if (strlen(video_id) > 64) return mc_err_set(err, MC_ERR_INVALID, "not a video id: '%.64s...'", video_id);
    time_t deadline = timeout_s > 0 ? time(NULL) + timeout_s : 0;
    char path[128], last[96] = "";
    snprintf(path, sizeof path, "/v1/videos/%s", video_id);
    int transient = 0;
    for (;;) {
        json_t *v = NULL;
        if (mc_cli_api_call("GET", path, NULL, &v, err) < 0) {
            if (err->kind != MC_ERR_UNAVAILABLE || ++transient > API_RETRIES) return -1;
            sleep_ms(POLL_MS);
            continue;
        }
        transient = 0;
        const char *st = json_string_value(json_object_get(v, "status"));
        char status[32], reason[512];
        snprintf(status, sizeof status, "%s", st ? st : "?");
        st = json_string_value(json_object_get(v, "failure_reason"));
        snprintf(reason, sizeof reason, "%s", st ? st : "no reason given");
        double progress = json_number_value(json_object_get(v, "progress"));
        bool playable = json_is_true(json_object_get(v, "playable"));
        double playable_s = json_number_value(json_object_get(v, "playable_seconds"));
        json_decref(v);
        if (strcmp(status, "ready") == 0) {
            fprintf(out, "video %s: ready\n", video_id);
            return 0;
        }
        if (strcmp(status, "failed") == 0)
            return mc_err_set(err, MC_ERR_INVALID, "video %s failed: %s", video_id, reason);
        char now[96];
        status_line(status, progress, now, sizeof now);
        if (playable)
            snprintf(now + strlen(now), sizeof now - strlen(now), ", playable (%.0f s published)",
                     playable_s);
        if (until_playable && playable) {
            fprintf(out, "video %s: %s\n", video_id, now);
            return 0;
        }
        if (wait_turn(out, video_id, now, last, sizeof last, status, deadline, timeout_s, err) < 0) return -1;
    }
}

static void print_plain(const json_t *doc, FILE *out) {
    fprintf(out, "video   %s\n", json_string_value(json_object_get(doc, "video")));
    const char *status = json_string_value(json_object_get(doc, "status"));
    if (status && strcmp(status, "ready") != 0)
        fprintf(out, "status  %s, still processing: %.0f s playable so far (HLS grows)\n", status,
                json_real_value(json_object_get(doc, "playable_seconds")));
    fprintf(out, "page    %s\n", json_string_value(json_object_get(doc, "page")));
    fprintf(out, "hls     %s\n", json_string_value(json_object_get(doc, "hls")));
    const char *name;
    json_t *url;
    json_object_foreach(json_object_get(doc, "mp4"), name, url)
        fprintf(out, "mp4     %-7s %s\n", name, json_string_value(url));
    json_t *poster = json_object_get(doc, "poster");
    if (poster) fprintf(out, "poster  %s\n", json_string_value(poster));
}

/* Prints a playback document and frees it. */
static void print_doc(json_t *doc, bool as_json, FILE *out) {
    if (as_json) {
        char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fprintf(out, "%s\n", text ? text : "{}");
        free(text);
    } else {
        print_plain(doc, out);
    }
    json_decref(doc);
}

int mc_cli_video_play(mc_db *db, const mc_cli_playback *pb, const char *video_id, bool as_json,
                      FILE *out, mc_err *err) {
    video_status v;
    if (read_status(db, video_id, &v, err) < 0) return -1;
    bool ready = strcmp(v.status, "ready") == 0 && v.prefix[0];
    if (!ready && !(v.playable && strcmp(v.status, "transcoding") == 0))
        return mc_err_set(err, MC_ERR_CONFLICT, "video %s is %s, not playable yet%s%s", video_id,
                          v.status, v.reason[0] ? ": " : "", v.reason);
    mc_playback_signer signer = {.base_url = pb->base_url, .key = pb->key,
                                 .exp = (int64_t)time(NULL) + pb->ttl_s};
    json_t *doc = mc_playback_doc(db, MC_DB_MASTER, &signer, v.tenant, video_id, ready ? v.prefix : NULL, err);
    if (!doc) return -1;
    json_object_set_new(doc, "status", json_string(v.status));
    json_object_set_new(doc, "playable_seconds", json_real(v.playable_s));
    print_doc(doc, as_json, out);
    return 0;
}

int mc_cli_video_play_api(const char *video_id, long ttl_s, bool as_json, FILE *out, mc_err *err) {
    if (strlen(video_id) > 64) return mc_err_set(err, MC_ERR_INVALID, "not a video id: '%.64s...'", video_id);
    char path[160];
    int len = snprintf(path, sizeof path, "/v1/videos/%s/playback", video_id);
    if (ttl_s > 0) snprintf(path + len, sizeof path - (size_t)len, "?ttl=%ld", ttl_s);
    json_t *pb = NULL, *v = NULL;
    char vpath[128];
    snprintf(vpath, sizeof vpath, "/v1/videos/%s", video_id);
    if (mc_cli_api_call("GET", path, NULL, &pb, err) < 0) return -1;
    /* Its status: a video still transcoding plays its growing HLS. */
    if (mc_cli_api_call("GET", vpath, NULL, &v, err) < 0) {
        json_decref(pb);
        return -1;
    }
    json_t *doc = json_pack("{s:s}", "video", video_id);
    json_object_update(doc, pb);
    json_decref(pb);
    json_object_set(doc, "status", json_object_get(v, "status"));
    json_object_set_new(doc, "playable_seconds",
                        json_real(json_number_value(json_object_get(v, "playable_seconds"))));
    json_decref(v);
    print_doc(doc, as_json, out);
    return 0;
}
