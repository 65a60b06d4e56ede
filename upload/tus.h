/* tus.h — the tus 1.0.0 protocol handlers of mcloud-upload, split by
 * request: tus.c (routing, responses, auth, OPTIONS/HEAD/GET/DELETE),
 * tus_create.c (POST: creation, creation-with-upload, defer-length,
 * concatenation), tus_patch.c (the body of PATCH and creation-with-upload:
 * offsets, checksums and trailers, lock, commit, completion). */
#ifndef MCLOUD_UPLOAD_TUS_H
#define MCLOUD_UPLOAD_TUS_H

#include "common/http.h"
#include "upload/upload.h"

#define MC_TUS_BASE_PATH "/files/"

/* Registers the tus routes (/files and /files/<id>) on the service. */
int mc_tus_routes(mc_upload_server *srv, mc_err *err);

/* ---- shared by the handler files ---- */
typedef struct mc_tus_req {
    mc_upload_server *srv;
    const char *method;          /* after X-HTTP-Method-Override */
    mc_token_claims claims;
    mc_upload u;
    bool have_upload;
    mc_lock lock;                /* token 0: not held */
    mc_upload_writer *writer;    /* while a body streams */
    int64_t prev_offset;         /* the committed offset the body starts at */
    int64_t body_end;            /* the body may not go past this offset */
    bool created;                /* POST: answer 201 with Location */
    bool answered;               /* the final call came */
    bool in_body;                /* the final call goes to mc_tus_body_end */
    bool has_checksum;
    mc_tus_checksum expected;
    mc_checksum sums[3];         /* one, or all three while a trailer may name any */
    size_t nsums;
    mc_err fail;                 /* an error met while the body streamed */
} mc_tus_req;

/* Queues resp (NULL: empty body) with the tus, CORS and upload headers. */
enum MHD_Result mc_tus_respond(mc_http_req *req, mc_tus_req *t, unsigned status,
                               struct MHD_Response *resp);
enum MHD_Result mc_tus_fail(mc_http_req *req, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A parser's or a backend's error: parser statuses kept, backends 5xx. */
enum MHD_Result mc_tus_fail_err(mc_http_req *req, const mc_err *err);
/* The same for a refused body: nothing of it is kept, and when the request
 * created the upload (creation-with-upload) the answer still names it
 * (Location, Upload-Offset), so the client can go on with PATCH. */
enum MHD_Result mc_tus_refuse_body(mc_http_req *req, mc_tus_req *t, const mc_err *err);
enum MHD_Result mc_tus_lock_held(mc_http_req *req, const char *id);
const char *mc_tus_header(mc_http_req *req, const char *name, size_t *len);

/* Verifies the bearer token into t->claims; answers 401 and returns false
 * when it is missing or bad. */
bool mc_tus_authenticate(mc_http_req *req, mc_tus_req *t, enum MHD_Result *rc);
/* Authenticates and loads the upload the path names: 401 for a bad token,
 * 404 when unknown or another tenant's, 410 when terminated or expired;
 * false after answering. */
bool mc_tus_load_upload(mc_http_req *req, mc_tus_req *t, enum MHD_Result *rc);

enum MHD_Result mc_tus_create_first(mc_http_req *req, mc_tus_req *t);
enum MHD_Result mc_tus_patch_first(mc_http_req *req, mc_tus_req *t);
/* Sets up the body pipeline for t->u (lock held, checks done). */
enum MHD_Result mc_tus_body_begin(mc_http_req *req, mc_tus_req *t);
void mc_tus_body_chunk(mc_tus_req *t, const char *data, size_t len);
enum MHD_Result mc_tus_body_end(mc_http_req *req, mc_tus_req *t);
/* The client went away mid-body: frees the writer and commits the parts it
 * made durable (unless a checksum covers the whole body). */
void mc_tus_body_abandon(mc_tus_req *t);
/* Completes t->u if its last byte is committed (lock held). */
int mc_tus_finish_if_complete(mc_tus_req *t, mc_err *err);

#endif
