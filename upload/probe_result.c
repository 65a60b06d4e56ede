/* probe_result.c — the JSON between mcloud-upload and its probe helper
 * (see probe.h): the request the daemon writes and the result it reads
 * back, checked field by field because the helper parsed untrusted media. */
#include "upload/probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

char *mc_upload_probe_request(const mc_s3_config *s3, const char *key, uint64_t size,
                              long max_alloc_mb) {
    json_t *j = json_pack("{s:{s:s,s:s,s:s,s:s,s:s,s:b},s:s,s:I,s:I}", "s3", "endpoint",
                          s3->endpoint, "region", s3->region, "bucket", s3->bucket, "access_key",
                          s3->access_key, "secret_key", s3->secret_key, "path_style",
                          s3->path_style, "key", key, "size", (json_int_t)size, "max_alloc_mb",
                          (json_int_t)max_alloc_mb);
    char *text = j ? mc_json_dump(j) : NULL;
    json_decref(j);
    return text;
}

static int copy_string(json_t *obj, const char *field, char *out, size_t cap, mc_err *err) {
    const char *s = NULL;
    if (mc_json_get_string(obj, field, false, "", &s, err) < 0) return -1;
    if (strlen(s) >= cap) return mc_err_set(err, MC_ERR_INVALID, "field '%s' is too long", field);
    snprintf(out, cap, "%s", s);
    return 0;
}

static int read_media(json_t *j, mc_upload_probe *p, mc_err *err) {
    long long duration, width, height;
    if (copy_string(j, "container", p->container, sizeof p->container, err) < 0 ||
        copy_string(j, "video_codec", p->video_codec, sizeof p->video_codec, err) < 0 ||
        copy_string(j, "audio_codec", p->audio_codec, sizeof p->audio_codec, err) < 0 ||
        mc_json_get_int(j, "duration_ms", false, -1, -1, INT64_MAX, &duration, err) < 0 ||
        mc_json_get_int(j, "width", false, 0, 0, 1 << 20, &width, err) < 0 ||
        mc_json_get_int(j, "height", false, 0, 0, 1 << 20, &height, err) < 0)
        return -1;
    if (!p->container[0]) return mc_err_set(err, MC_ERR_INVALID, "field 'container' is missing");
    if (!p->video_codec[0] && !p->audio_codec[0])
        return mc_err_set(err, MC_ERR_INVALID, "a media result names no codec");
    json_t *probe = json_object_get(j, "probe");
    if (!json_is_object(probe)) return mc_err_set(err, MC_ERR_INVALID, "field 'probe' must be an object");
    p->duration_ms = duration;
    p->width = (int)width;
    p->height = (int)height;
    p->json = mc_json_dump(probe);
    return p->json ? 0 : mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
}

int mc_upload_probe_parse(const char *buf, size_t len, mc_upload_probe *p, mc_err *err) {
    memset(p, 0, sizeof *p);
    p->duration_ms = -1;
    if (len > MC_PROBE_RESULT_MAX)
        return mc_err_set(err, MC_ERR_INVALID, "probe result larger than %d bytes",
                          MC_PROBE_RESULT_MAX);
    json_t *j = mc_json_parse_object(buf, len, err);
    if (!j) return -1;
    const char *s3_error = NULL;
    bool media = false;
    int rc = mc_json_get_string(j, "error", false, NULL, &s3_error, err);
    if (rc == 0 && s3_error)
        rc = mc_err_set(err, MC_ERR_UNAVAILABLE, "probe helper: %s", s3_error);
    else if (rc == 0) rc = mc_json_get_bool(j, "media", true, false, &media, err);
    if (rc == 0 && media) rc = read_media(j, p, err);
    else if (rc == 0) {
        rc = copy_string(j, "reason", p->failure_reason, sizeof p->failure_reason, err);
        if (rc == 0 && !p->failure_reason[0])
            rc = mc_err_set(err, MC_ERR_INVALID, "field 'reason' is missing");
    }
    p->media = rc == 0 && media;
    json_decref(j);
    if (rc < 0) mc_upload_probe_free(p);
    return rc;
}

void mc_upload_probe_free(mc_upload_probe *p) {
    free(p->json);
    p->json = NULL;
}
