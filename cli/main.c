/* main.c — `mcloud`, the platform's command line.
 *
 *   mcloud upload FILE        a direct upload (POST /v1/uploads), then the resumable
 *                             tus upload with its one-upload token; prints the video id
 *   mcloud wait VIDEO_ID      polls GET /v1/videos/{id} until ready or failed
 *   mcloud play VIDEO_ID [--json] [--ttl S]
 *                             the video's signed playback URLs (GET /v1/videos/{id}/playback)
 *   mcloud publish FILE       upload, wait and play: the end of the main job (`make run`)
 *   (these four talk to mcloud-api at MCLOUD_API_URL with the key MCLOUD_API_KEY;
 *    wait --playable: until its HLS plays while it transcodes (the API's
 *    `playable`); wait/play --local: the operator's way, from MySQL and this
 *    machine's playback key, for a test's own mcloud-stream)
 *   mcloud tenant create NAME a tenant and its first admin key (cli/admin.h)
 *   mcloud apikey create|list|revoke   the tenant's API keys, through mcloud-api
 *   mcloud db switchover [HOST:PORT]
 *                             move the MariaDB master (maintenance), done by mcloud-dbmon
 *   mcloud ps|nodes|scale|resources|deploy|rollout|drain|logs|status|history|autoscale
 *                             operator commands (cli/ops.c, mcloud-orchestrator's API)
 *
 * Settings come from the same table as the daemons' (environment, then the
 * built-in defaults), so `eval "$(scripts/stack.sh env)"` is all it needs.
 * Errors are printed once, here; the exit status is 0 on success, 1 on a
 * failure, 2 on a usage error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli/admin.h"
#include "cli/api.h"
#include "cli/logs.h"
#include "cli/ops.h"
#include "cli/tus_client.h"
#include "cli/video.h"
#include "common/config.h"
#include "common/mysql.h"
#include "common/playback.h"
#include "dbmon/request.h"

#define CHUNK_BYTES (8u * 1024 * 1024)
#define MAX_RETRIES 20
#define WAIT_TIMEOUT_S 3600

static int usage(void) {
    fprintf(stderr,
            "usage: mcloud upload FILE      upload FILE (resumable: run it again after a break)\n"
            "       mcloud wait VIDEO_ID [--local] [--playable]\n"
            "                               follow transcoding until the video is ready\n"
            "                               (--playable: until it plays, while transcoding)\n"
            "       mcloud play VIDEO_ID [--json] [--ttl SECONDS] [--local]\n"
            "                               print the video's signed playback URLs (page, HLS, MP4)\n"
            "       mcloud publish FILE [--json] [--ttl SECONDS]\n"
            "                               upload, wait and print the playback URLs\n"
            "       upload, wait, play and publish use mcloud-api: MCLOUD_API_URL and MCLOUD_API_KEY;\n"
            "       --local (operator): read MySQL and sign with this machine's playback key\n"
            "       mcloud tenant create NAME   make a tenant; prints its first admin key\n"
            "       mcloud apikey create [--name NAME] [--scopes \"videos:read videos:write ...\"]\n"
            "       mcloud apikey list | mcloud apikey revoke KEY_ID   (through MCLOUD_API_URL\n"
            "                               with MCLOUD_API_KEY)\n"
            "       mcloud db switchover [HOST:PORT]\n"
            "                               move the MariaDB master to HOST:PORT (default: a healthy replica)\n"
            "Reads MCLOUD_* settings from the environment (scripts/stack.sh env prints them).\n");
    mc_cli_ops_usage();
    mc_cli_logs_usage();
    return 2;
}

/* A direct upload reserved through the API: its video, one-upload token and
 * tus endpoint. Remembered next to the tus client's state until the upload
 * completes, so that running the command again resumes the same upload
 * (the token is refused for any other). */
typedef struct reservation {
    char video_id[64];
    char token[2048];
    char endpoint[512];
} reservation;

static void reservation_path(const char *state_dir, const char *file, char *out, size_t cap) {
    char scope[1100], hex[65];
    const char *api = getenv("MCLOUD_API_URL"), *key = getenv("MCLOUD_API_KEY");
    snprintf(scope, sizeof scope, "api %s %.12s", api ? api : "", key ? key : "");
    if (mc_tus_state_name(scope, file, hex, sizeof hex) < 0) *out = '\0';
    else snprintf(out, cap, "%s/%s.api", state_dir, hex);
}

static int recall_reservation(const char *path, reservation *rv) {
    FILE *f = *path ? fopen(path, "r") : NULL;
    if (!f) return -1;
    int n = fscanf(f, "%63s %2047s %511s", rv->video_id, rv->token, rv->endpoint);
    fclose(f);
    return n == 3 ? 0 : -1;
}

static void remember_reservation(const char *path, const reservation *rv) {
    FILE *f = *path ? fopen(path, "w") : NULL;
    if (!f) return; /* resuming is a convenience; the upload goes on */
    fprintf(f, "%s\n%s\n%s\n", rv->video_id, rv->token, rv->endpoint);
    fclose(f);
}

/* POST /v1/uploads: a video titled after the file, sized for it. */
static int reserve(const char *file, reservation *rv, mc_err *err) {
    struct stat st;
    if (stat(file, &st) < 0 || !S_ISREG(st.st_mode))
        return mc_err_set(err, MC_ERR_INVALID, "%s: not a readable regular file", file);
    const char *base = strrchr(file, '/');
    json_t *body = json_pack("{s:s, s:I}", "title", base ? base + 1 : file, "max_size_bytes",
                             (json_int_t)(st.st_size > 0 ? st.st_size : 1));
    json_t *out = NULL;
    int rc = mc_cli_api_call("POST", "/v1/uploads", body, &out, err);
    json_decref(body);
    if (rc < 0) return -1;
    json_t *up = json_object_get(out, "upload");
    const char *id = json_string_value(json_object_get(out, "video_id"));
    const char *token = json_string_value(json_object_get(up, "token"));
    const char *endpoint = json_string_value(json_object_get(up, "endpoint"));
    if (!id || !token || !endpoint || strlen(id) >= sizeof rv->video_id ||
        strlen(token) >= sizeof rv->token || strlen(endpoint) >= sizeof rv->endpoint)
        rc = mc_err_set(err, MC_ERR_REMOTE, "POST /v1/uploads answered no usable video_id, "
                        "upload.token and upload.endpoint");
    else {
        snprintf(rv->video_id, sizeof rv->video_id, "%s", id);
        snprintf(rv->token, sizeof rv->token, "%s", token);
        snprintf(rv->endpoint, sizeof rv->endpoint, "%s", endpoint);
        fprintf(stderr, "video %s reserved (POST /v1/uploads)\n", id);
    }
    json_decref(out);
    return rc;
}

static void show_progress(void *ctx, uint64_t offset, uint64_t length) {
    (void)ctx;
    fprintf(stderr, "\ruploaded %llu of %llu MiB (%d%%)", (unsigned long long)(offset >> 20),
            (unsigned long long)(length >> 20), length ? (int)(offset * 100 / length) : 100);
    if (offset == length) fputc('\n', stderr);
}

static int cmd_upload(const char *path, char *video_id, size_t cap, mc_err *err) {
    char state_dir[1024], rv_path[1200];
    const char *home = getenv("MCLOUD_HOME");
    snprintf(state_dir, sizeof state_dir, "%s/cli-uploads", home && *home ? home : "/tmp");
    mkdir(state_dir, 0700); /* without it uploads still work, they just cannot resume */
    reservation rv;
    reservation_path(state_dir, path, rv_path, sizeof rv_path);
    if (recall_reservation(rv_path, &rv) == 0) {
        fprintf(stderr, "resuming the upload of video %s\n", rv.video_id);
    } else {
        if (reserve(path, &rv, err) < 0) return -1;
        remember_reservation(rv_path, &rv);
    }
    mc_tus_upload_options opt = {.endpoint = rv.endpoint, .token = rv.token, .path = path,
                                 .state_dir = state_dir, .chunk_bytes = CHUNK_BYTES,
                                 .max_retries = MAX_RETRIES,
                                 .progress = isatty(2) ? show_progress : NULL};
    mc_tus_upload_result res;
    if (mc_tus_upload_file(&opt, &res, err) < 0) {
        /* a refused token (expired, the reserved video deleted) cannot succeed
         * later: forget it, the next run reserves a new video */
        if (err->kind != MC_ERR_UNAVAILABLE && rv_path[0]) unlink(rv_path);
        return -1;
    }
    if (*rv_path) unlink(rv_path);
    if (res.resumed_from)
        fprintf(stderr, "resumed %s at byte %llu\n", res.url, (unsigned long long)res.resumed_from);
    fprintf(stderr, "uploaded %s (%llu bytes) to %s\n", path, (unsigned long long)res.length,
            res.url);
    snprintf(video_id, cap, "%s", rv.video_id);
    return 0;
}

static mc_db *open_db(mc_config *cfg, mc_err *err) {
    mc_db_config dc;
    if (mc_db_config_from(cfg, &dc, err) < 0) return NULL;
    return mc_db_open(&dc, err);
}

typedef struct play_options {
    bool as_json;
    long ttl_s;   /* 0: stream.url_ttl_s */
    bool until_playable;   /* wait --playable */
    bool local;   /* --local: MySQL and this machine's playback key, not the API */
} play_options;

static int cmd_wait(mc_config *cfg, const char *video_id, const play_options *po, mc_err *err) {
    bool until_playable = po->until_playable;
    if (!po->local) return mc_cli_video_wait_api(video_id, WAIT_TIMEOUT_S, until_playable, stderr, err);
    mc_db *db = open_db(cfg, err);
    if (!db) return -1;
    int rc = mc_cli_video_wait(db, video_id, WAIT_TIMEOUT_S, until_playable, stderr, err);
    mc_db_close(db);
    return rc;
}

static int cmd_play(mc_config *cfg, const char *video_id, const play_options *po, mc_err *err) {
    if (!po->local) return mc_cli_video_play_api(video_id, po->ttl_s, po->as_json, stdout, err);
    mc_token_key keys[MC_PLAYBACK_MAX_KEYS];
    size_t nkeys;
    long ttl_s = po->ttl_s;
    if (mc_playback_keys_from_config(cfg, keys, &nkeys, err) < 0 ||
        (ttl_s == 0 && mc_config_int(cfg, "stream.url_ttl_s", 1, 366L * 86400, &ttl_s, err) < 0))
        return -1;
    mc_db *db = open_db(cfg, err);
    if (!db) return -1;
    mc_cli_playback pb = {.base_url = mc_config_get(cfg, "stream.public_url"), .key = &keys[0], .ttl_s = ttl_s};
    int rc = mc_cli_video_play(db, &pb, video_id, po->as_json, stdout, err);
    mc_db_close(db);
    return rc;
}

static int run(mc_config *cfg, const char *cmd, const char *arg, const play_options *po,
               mc_err *err) {
    char video_id[64];
    if (strcmp(cmd, "upload") == 0) {
        if (cmd_upload(arg, video_id, sizeof video_id, err) < 0) return -1;
        printf("%s\n", video_id);
        return 0;
    }
    if (strcmp(cmd, "wait") == 0) return cmd_wait(cfg, arg, po, err);
    if (strcmp(cmd, "play") == 0) return cmd_play(cfg, arg, po, err);
    /* publish */
    play_options api = *po;
    api.local = false; /* publish is the API's end to end */
    if (cmd_upload(arg, video_id, sizeof video_id, err) < 0 ||
        cmd_wait(cfg, video_id, &api, err) < 0)
        return -1;
    return cmd_play(cfg, video_id, &api, err);
}

/* Options after the argument: --json, --ttl SECONDS (play and publish);
 * --playable (wait); --local (wait and play). */
static int parse_options(int argc, char **argv, play_options *po) {
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--local") == 0 && strcmp(argv[1], "publish") != 0) {
            po->local = true;
        } else if (strcmp(argv[1], "wait") == 0) {
            if (strcmp(argv[i], "--playable") != 0) return -1;
            po->until_playable = true;
        } else if (strcmp(argv[i], "--json") == 0) {
            po->as_json = true;
        } else if (strcmp(argv[i], "--ttl") == 0 && i + 1 < argc) {
            char *end;
            po->ttl_s = strtol(argv[++i], &end, 10);
            if (*end || po->ttl_s < 1 || po->ttl_s > 366L * 86400) return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

static int admin(int argc, char **argv) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    mc_config *cfg = mc_config_load(NULL, NULL);
    mc_err err = {0};
    int rc = cfg ? mc_cli_admin(cfg, argc - 1, argv + 1, &err)
                 : mc_err_set(&err, MC_ERR_INTERNAL, "cannot load the settings");
    if (rc < 0) fprintf(stderr, "mcloud %s: %s\n", argv[1], err.msg);
    mc_config_free(cfg);
    curl_global_cleanup();
    return rc == 2 ? usage() : rc < 0 ? 1 : 0;
}

/* mcloud db switchover [HOST:PORT]: asks the active mcloud-dbmon. */
static int cmd_db(int argc, char **argv) {
    if (argc < 3 || argc > 4 || strcmp(argv[2], "switchover") != 0) return usage();
    mc_config *cfg = mc_config_load(NULL, NULL);
    if (!cfg) return 1;
    mc_redis_options o = {.addr = mc_config_get(cfg, "redis"), .password = mc_config_get(cfg, "redis.password"),
                          .client_name = "mcloud-cli"};
    const char *target = argc == 4 ? argv[3] : "auto";
    char result[600] = "";
    mc_err err = {0};
    fprintf(stderr, "switchover to %s requested; waiting for the active mcloud-dbmon\n", target);
    int rc = dbmon_request_switchover(&o, target, 60, result, sizeof result, &err);
    if (rc == 0) printf("%s\n", result);
    else fprintf(stderr, "mcloud db switchover: %s\n", err.msg);
    mc_config_free(cfg);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc >= 2 && (strcmp(argv[1], "tenant") == 0 || strcmp(argv[1], "apikey") == 0))
        return admin(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "db") == 0) return cmd_db(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "logs") == 0) return mc_cli_logs(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "kafka") == 0) return mc_cli_kafka(argc, argv);
    if (argc >= 2 && mc_cli_is_ops(argv[1])) return mc_cli_ops(argc, argv);
    if (argc < 3) return usage();
    const char *cmd = argv[1];
    bool takes_options = strcmp(cmd, "play") == 0 || strcmp(cmd, "publish") == 0 ||
                         strcmp(cmd, "wait") == 0;
    play_options po = {0};
    if (strcmp(cmd, "upload") && strcmp(cmd, "wait") && !takes_options) return usage();
    if ((!takes_options && argc != 3) || parse_options(argc, argv, &po) < 0) return usage();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    mc_config *cfg = mc_config_load(NULL, NULL);
    mc_err err = {0};
    int rc = cfg ? run(cfg, cmd, argv[2], &po, &err)
                 : mc_err_set(&err, MC_ERR_INTERNAL, "cannot load the settings");
    if (rc < 0) fprintf(stderr, "mcloud %s: %s\n", cmd, err.msg);
    mc_config_free(cfg);
    curl_global_cleanup();
    return rc < 0 ? 1 : 0;
}
