/* cache.h — the disk cache in front of S3: whole objects kept as files under
 * stream.cache_dir, least recently used evicted past stream.cache_max_mb.
 *
 * A miss starts one S3 GET for the object however many requests want it at
 * once (single flight); every request, the first included, reads from the
 * file as it fills, so the first bytes reach the client before the object is
 * whole. A finished file is read with sendfile by the server (its fd). The
 * index is the directory itself: a finished object is <sha256(key)>.data
 * beside <sha256(key)>.meta (key, size, ETag, Last-Modified), written by
 * rename only once the data is complete, so a restart rebuilds the index by
 * scanning and never serves a torn file; leftovers of interrupted fills are
 * deleted at open. When S3 cannot be reached, finished objects are still
 * served and misses fail with MC_ERR_UNAVAILABLE (the server's 503).
 * An object larger than the whole cache is still served through an
 * unlinked temporary file, never indexed. */
#ifndef MCLOUD_STREAM_CACHE_H
#define MCLOUD_STREAM_CACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "common/error.h"
#include "common/s3.h"
#include "common/s3_pool.h"

typedef struct mc_cache mc_cache;
typedef struct mc_cache_entry mc_cache_entry;

typedef struct mc_cache_options {
    const char *dir;        /* created if missing */
    uint64_t max_bytes;     /* the LRU bound over finished objects */
    mc_s3_pool *s3;         /* handles for the fills */
} mc_cache_options;

typedef struct mc_cache_object {
    uint64_t size;
    char etag[MC_S3_ETAG_MAX + 2]; /* strong, with quotes: "\"9b2cf...-3\"" */
    time_t last_modified;
} mc_cache_object;

typedef struct mc_cache_stats {
    uint64_t hits, misses, joins;  /* joins: requests that joined a fill in flight */
    uint64_t s3_fetches, s3_failures, evictions;
    uint64_t bytes, objects;       /* finished objects on disk */
} mc_cache_stats;

/* Scans dir and rebuilds the index (removing partial files). */
mc_cache *mc_cache_open(const mc_cache_options *opt, mc_err *err);
/* Waits for fills in flight to stop; entries must all be released. */
void mc_cache_close(mc_cache *c);

/* A referenced entry for key: a hit, a fill joined, or a fill started. Returns
 * once the object's size and validators are known (S3 answered) — or -1 with
 * MC_ERR_NOT_FOUND (no such object), MC_ERR_UNAVAILABLE (S3 unreachable or
 * failing) or another kind. */
int mc_cache_acquire(mc_cache *c, const char *key, mc_cache_entry **out, mc_err *err);
void mc_cache_release(mc_cache_entry *e);

const mc_cache_object *mc_cache_entry_object(const mc_cache_entry *e);
/* A new descriptor of the entry's data file (dup: it shares the file
 * position, so read it with pread or sendfile at an offset; the caller
 * closes it; it stays readable after eviction). -1 with err when out of
 * descriptors. */
int mc_cache_entry_dup_fd(mc_cache_entry *e, mc_err *err);
/* Blocks until bytes [0, end) are in the file, or the fill failed (-1 with
 * err: the fetch broke off; bytes already there stay readable). end is at
 * most the object's size. Returns immediately for a finished entry. */
int mc_cache_wait(mc_cache_entry *e, uint64_t end, mc_err *err);
/* Blocks until at least one byte past from is in the file (from < size),
 * and returns how many bytes [0, n) are there; -1 with err when the fill
 * failed first. A reader sends what has arrived instead of waiting for a
 * whole chunk. */
int64_t mc_cache_wait_some(mc_cache_entry *e, uint64_t from, mc_err *err);
bool mc_cache_entry_finished(const mc_cache_entry *e);
/* Blocks until the entry's fill is over: 0 once the object is whole and
 * indexed (or, larger than the cache, whole in its unlinked file), -1 with
 * err when the fill failed. The last bytes reach mc_cache_wait a moment
 * before that: the fill still renames the file into the index. */
int mc_cache_wait_finished(mc_cache_entry *e, mc_err *err);

void mc_cache_get_stats(mc_cache *c, mc_cache_stats *out);

/* For tests: called on a fill's thread, with no lock held, each time bytes
 * land in the file (filled: the bytes so far), so a test can hold a fill at
 * a known point; returning -1 breaks the fill off as a dropped S3 transfer
 * would. NULL removes the hook. */
typedef int (*mc_cache_fill_hook)(void *ctx, const char *key, uint64_t filled);
void mc_cache_set_fill_hook(mc_cache *c, mc_cache_fill_hook hook, void *ctx);

#endif
