/* upload.h — the types the upload daemon's subsystems share: the server
 * context (settings, clients) and one upload's state.
 *
 * An upload's state lives in MySQL (`uploads`, the durable record) and in the
 * Redis hash mcloud:upload:<id> (its cache); state.c keeps the two in step.
 * Bytes live in S3: parts 1..next_part-1 of the multipart upload are full
 * parts of part_size bytes, and the tail_bytes after them sit in the staging
 * object uploads/<id>/tail.<next_part> until they fill a part. */
#ifndef MCLOUD_UPLOAD_UPLOAD_H
#define MCLOUD_UPLOAD_UPLOAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/kafka.h"
#include "common/lock.h"
#include "common/outbox.h"
#include "common/periodic.h"
#include "common/s3.h"
#include "common/s3_pool.h"
#include "common/service.h"
#include "common/token.h"
#include "upload/parts.h"
#include "upload/probe.h"
#include "upload/tus_headers.h"

#define MC_UPLOAD_ID_LEN 26
#define MC_UPLOAD_UUID_LEN 36
#define MC_UPLOAD_JOBS_TOPIC "mcloud.transcode.jobs"
#define MC_UPLOAD_MIN_PART (5ull * 1024 * 1024) /* S3's smallest non-last part */

typedef struct mc_upload_settings {
    char public_url[256];       /* "http://127.0.0.1:18080" */
    uint64_t min_part_size;     /* bytes */
    int64_t max_size;
    int64_t expiry_s;
    int lock_ttl_ms;
    int sweep_interval_s;
    int probe_memory_mb;        /* the helper's address space */
    int probe_cpu_s;            /* the helper's CPU seconds */
    int probe_timeout_s;        /* the helper's wall-clock time */
    long orphan_age_s;          /* unowned multipart uploads older than this are aborted */
    int outbox_commit_delay_ms; /* fault injection (tests): pause before the outbox commit */
    char token_key_id[MC_TOKEN_NAME_MAX + 1];
    char token_secret[256];
} mc_upload_settings;


typedef struct mc_upload_server {
    mc_service svc;
    mc_upload_settings set;
    mc_s3_config s3cfg;
    mc_s3_pool *s3;             /* kept-alive S3 handles, one per user at a time */
    mc_kafka_config kafka_config; /* the outbox publisher's (its producer and lookups) */
    mc_outbox_publisher *outbox; /* nudged when a completion wrote a job */
    mc_periodic *sweeper;
    char jobs_topic[64];
    char probe_bin[4096];       /* the mcloud-probe helper next to this executable */
} mc_upload_server;

typedef enum mc_upload_status {
    MC_UPLOAD_ACTIVE = 0,
    MC_UPLOAD_COMPLETED,
    MC_UPLOAD_TERMINATED,
    MC_UPLOAD_EXPIRED
} mc_upload_status;

typedef enum mc_upload_concat {
    MC_UPLOAD_CONCAT_NONE = 0,
    MC_UPLOAD_CONCAT_PARTIAL,
    MC_UPLOAD_CONCAT_FINAL
} mc_upload_concat;

typedef struct mc_upload {
    char id[MC_TUS_ID_MAX + 1];
    char tenant[MC_TOKEN_NAME_MAX + 1];
    char video_id[MC_UPLOAD_UUID_LEN + 1];  /* "" for partial uploads */
    char s3_key[MC_S3_KEY_MAX];
    char s3_upload_id[MC_S3_UPLOAD_ID_MAX];
    int64_t offset;
    int64_t length;             /* -1 while deferred */
    int64_t max_bytes;          /* the creator's limit */
    uint64_t part_size;
    int next_part;              /* parts below it are committed and full */
    uint64_t tail_bytes;        /* staged in uploads/<id>/tail.<next_part> */
    int64_t expires_at;         /* unix seconds */
    int64_t fence;              /* lock token of the last commit */
    mc_upload_status status;
    mc_upload_concat concat;
    char *metadata;             /* canonical Upload-Metadata, malloc'd, "" if none */
    char *concat_parts;         /* final: JSON array of partial ids, malloc'd or NULL */
    bool video_reserved;        /* the video row exists (POST /v1/uploads made it) */
} mc_upload;

void mc_upload_free(mc_upload *u);
const char *mc_upload_status_name(mc_upload_status s);
const char *mc_upload_concat_name(mc_upload_concat c);

/* ---- ids (ids.c) ---- */
/* A random upload id of MC_UPLOAD_ID_LEN characters [a-z0-9]. */
int mc_upload_new_id(char out[MC_UPLOAD_ID_LEN + 1], mc_err *err);
/* A random UUID v4. */
int mc_upload_new_uuid(char out[MC_UPLOAD_UUID_LEN + 1], mc_err *err);
/* The transcode job id of an upload: a UUID (version 5 layout) from the
 * SHA-1 of the upload id, so every replay names the same job. */
void mc_upload_job_id(const char *upload_id, char out[MC_UPLOAD_UUID_LEN + 1]);

/* ---- state (state.c): MySQL record + Redis cache + the write lock ---- */
/* Inserts the uploads row (and the videos row when u->video_id is set) in
 * one transaction, then caches it. */
int mc_upload_state_create(mc_upload_server *srv, const mc_upload *u, const char *title,
                           mc_err *err);
/* The upload's state from Redis, or from MySQL (re-cached) when Redis lost
 * it. MC_ERR_NOT_FOUND for an unknown id. Free with mc_upload_free. */
int mc_upload_state_load(mc_upload_server *srv, const char *id, mc_upload *out, mc_err *err);
/* Commits u (offset, length, parts, tail, status) if lock is still the
 * upload's current holder and the stored offset is still prev_offset:
 * MC_ERR_CONFLICT otherwise. MySQL first (the record), then the cache. */
int mc_upload_state_commit(mc_upload_server *srv, mc_upload *u, int64_t prev_offset,
                           const mc_lock *lock, mc_err *err);
/* Takes the upload's write lock ("upload.<id>"); MC_ERR_CONFLICT when held. */
int mc_upload_lock(mc_upload_server *srv, const char *id, mc_lock *lock, mc_err *err);
int mc_upload_lock_extend(mc_upload_server *srv, const mc_lock *lock, mc_err *err);
void mc_upload_unlock(mc_upload_server *srv, const mc_lock *lock);

/* ---- storage (store.c): parts, tail staging, completion, concatenation ---- */
void mc_upload_tail_key(const mc_upload *u, int part, char key[MC_S3_KEY_MAX]);

/* The sink of one PATCH body: streams full parts into S3 as bytes arrive
 * (through a pipe to a thread running UploadPart when the declared length
 * guarantees a full part), buffers only a sub-part remainder, and stages
 * that remainder as the tail object at the end. u is advanced as parts
 * become durable; nothing is committed here. */
typedef struct mc_upload_writer mc_upload_writer;
/* declared: the body's length, or -1 when unknown (chunked). */
mc_upload_writer *mc_upload_writer_new(mc_upload_server *srv, mc_upload *u, const mc_lock *lock,
                                       int64_t declared, mc_err *err);
int mc_upload_writer_write(mc_upload_writer *w, const char *data, size_t len, mc_err *err);
/* The body ended: the remainder becomes the last part (upload complete) or
 * the staged tail. u then holds the new state to commit. */
int mc_upload_writer_finish(mc_upload_writer *w, mc_err *err);
/* Bytes of this body taken so far. */
uint64_t mc_upload_writer_received(const mc_upload_writer *w);
/* Whether a part of this body is durable; u then describes the state after
 * it (to commit when the client went away before the end). */
bool mc_upload_writer_durable(const mc_upload_writer *w);
void mc_upload_writer_free(mc_upload_writer *w);

/* CompleteMultipartUpload of parts 1..next_part-1; succeeds again when the
 * object already exists with the upload's length (a replay). */
int mc_upload_store_complete(mc_upload_server *srv, mc_s3 *s3, const mc_upload *u, mc_err *err);
/* Deletes the upload's staging objects (uploads/<id>/tail.*). */
void mc_upload_store_drop_staging(mc_s3 *s3, const char *id);
/* Aborts the multipart upload and drops staging. */
void mc_upload_store_abort(mc_s3 *s3, const mc_upload *u);
/* Fills the final upload u from its partials' objects (UploadPartCopy;
 * partials or pieces under 5 MiB go through a bounded buffer). */
int mc_upload_store_concat(mc_upload_server *srv, mc_s3 *s3, mc_upload *u,
                           const mc_upload *partials, size_t count, mc_err *err);

/* Drops the cached state so the next load reads MySQL. */
void mc_upload_state_forget(mc_upload_server *srv, const char *id);
/* Ends an upload that will not complete, in one transaction: its row to
 * status ("expired", "terminated"; only_active: only from active) and its
 * video, while still uploading, failed with reason; then its cached state
 * dropped. The sweeper's expiry and the client's DELETE. */
int mc_upload_state_end(mc_upload_server *srv, const mc_upload *u, const char *status, bool only_active,
                        const char *reason, mc_err *err);

/* ---- probe (probe.c): the helper process mcloud-probe, see probe.h ---- */
/* Finds the helper next to this executable; an error names what is missing. */
int mc_upload_probe_init(mc_upload_server *srv, mc_err *err);
/* Closes the probe server's sockets (it exits) and reaps it; at shutdown. */
void mc_upload_probe_stop(void);
/* Probes key (size bytes) in a child of the probe server under the probe
 * limits. Returns -1 only when S3 failed or the server failed twice; a file that is
 * not media, or that crashes or exhausts the helper, is p->media = false
 * with the reason. */
int mc_upload_probe_object(mc_upload_server *srv, const char *key, uint64_t size,
                           mc_upload_probe *p, mc_err *err);

/* ---- completion (complete.c) ---- */
/* Finishes an upload whose committed offset equals its length, holding its
 * lock: CompleteMultipartUpload, then (unless partial) the probe, and in
 * one transaction the rows and the transcode job's outbox row. Re-entrant:
 * every step succeeds again after a crash, and only the transaction that
 * moves the upload from active to completed writes the outbox row. */
int mc_upload_complete(mc_upload_server *srv, mc_s3 *s3, mc_upload *u, mc_err *err);

/* ---- sweeper (sweeper.c) ----
 * Every upload.sweep_interval_s (and at start): expires uploads past their
 * expiry (abort the multipart upload, drop staging, mark rows) and finishes
 * completions a crash interrupted (offset == length, still active); aborts
 * multipart uploads no active upload owns after upload.orphan_age_s. */
mc_periodic *mc_upload_sweeper_start(mc_upload_server *srv, mc_err *err);

#endif
