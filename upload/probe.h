/* probe.h — the probe of a finished upload as the daemon sees it: the
 * result the helper process mcloud-probe writes (probe_result.c parses it,
 * probe_main.c writes it) and the request it reads.
 *
 * The wire format between the two is one JSON object each way over pipes:
 *   request (helper's stdin):  {"s3":{endpoint, region, bucket, access_key,
 *     secret_key, path_style}, "key", "size", "max_alloc_mb"}
 *   result (helper's stdout):  {"media":true, "container", "duration_ms",
 *     "video_codec", "audio_codec", "width", "height", "probe":{...}}
 *                           or {"media":false, "reason":"..."}
 *                           or {"error":"..."} (S3 failed: exit status 3)
 * The result comes from a process that parsed untrusted bytes, so the daemon
 * reads it like any input from the network (bounded, typed fields). */
#ifndef MCLOUD_UPLOAD_PROBE_H
#define MCLOUD_UPLOAD_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/s3.h"

#define MC_PROBE_EXIT_S3 3          /* the helper's exit status when S3 failed */
#define MC_PROBE_RESULT_MAX (256 * 1024)

typedef struct mc_upload_probe {
    bool media;                 /* false: failure_reason says why */
    char failure_reason[256];
    char container[64];
    int64_t duration_ms;        /* -1 unknown */
    char video_codec[64], audio_codec[64];
    int width, height;
    char *json;                 /* the whole probe, malloc'd */
} mc_upload_probe;

/* The helper's request (malloc'd JSON text; NULL when out of memory). */
char *mc_upload_probe_request(const mc_s3_config *s3, const char *key, uint64_t size,
                              long max_alloc_mb);
/* Parses the helper's result into p (zeroed first). MC_ERR_INVALID when the
 * document is not a result (a field named); an {"error"} result is
 * MC_ERR_UNAVAILABLE with its message. */
int mc_upload_probe_parse(const char *buf, size_t len, mc_upload_probe *p, mc_err *err);
void mc_upload_probe_free(mc_upload_probe *p);

#endif
