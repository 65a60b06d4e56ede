/* tus_client.h — the command line's tus 1.0.0 client: creates an upload,
 * sends the file in chunks, and resumes from the server's offset after a
 * broken connection or a restart of the command (the upload URL of each
 * file is remembered in a state directory, keyed by path, size and mtime). */
#ifndef MC_CLI_TUS_CLIENT_H
#define MC_CLI_TUS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct mc_tus_upload_options {
    const char *endpoint;       /* "http://127.0.0.1:18080/files/" */
    const char *token;          /* bearer token */
    const char *path;           /* the local file */
    const char *state_dir;      /* where upload URLs are remembered; NULL: no resume */
    size_t chunk_bytes;         /* bytes per PATCH */
    int max_retries;            /* consecutive failures tolerated per chunk */
    /* Called after every acknowledged chunk (may be NULL). */
    void (*progress)(void *ctx, uint64_t offset, uint64_t length);
    void *progress_ctx;
} mc_tus_upload_options;

typedef struct mc_tus_upload_result {
    char url[512];              /* the upload's URL */
    char video_id[64];          /* from Mcloud-Video-Id; "" if the server sent none */
    uint64_t length;
    uint64_t resumed_from;      /* offset found on the server at start (0: new) */
} mc_tus_upload_result;

/* The name (64 hex digits) under which state about the local file path is
 * remembered for scope (an endpoint, an API): it changes with the file's
 * size and mtime. -1 if the file cannot be read. */
int mc_tus_state_name(const char *scope, const char *path, char *hex, size_t cap);

int mc_tus_upload_file(const mc_tus_upload_options *opt, mc_tus_upload_result *out, mc_err *err);

#endif
