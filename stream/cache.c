/* cache.c — the disk cache of whole S3 objects (see cache.h).
 *
 * Owns the index (entries hashed by the sha256 of their key, plus an LRU list
 * of the finished ones), the fills (one thread per object in flight, writing
 * a temporary file that readers follow through a condition variable), the
 * files on disk (naming, the .meta format, the rebuild at open) and eviction.
 * One mutex guards the index and every entry's state; file I/O of a fill
 * runs outside it. An entry lives while it is indexed or referenced: the fill
 * holds a reference, so does every acquirer until mc_cache_release. */
#include "stream/cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/dirs.h"
#include "common/sigv4.h"

enum {
    BUCKETS = 4096,
    NAME_LEN = 64,          /* hex sha256 of the key */
    META_MAX = MC_S3_KEY_MAX + 512,
};

#define META_MAGIC "mcloud-cache 1\n"
#define FILL_PREFIX "fill-"

typedef enum entry_state { FILLING, FINISHED, FAILED } entry_state;

struct mc_cache_entry {
    mc_cache *cache;
    char *key;
    char name[NAME_LEN + 1];
    mc_cache_object obj;
    entry_state state;
    bool headers_known;     /* obj is set: acquirers may return */
    bool oversize;          /* larger than the cache: an unlinked file, never indexed */
    bool hashed;            /* findable by key (filling, or finished and indexed) */
    bool indexed;           /* finished, on disk under its name, in the LRU */
    int refs;
    int fd;                 /* the data file while referenced, else -1 */
    uint64_t filled;        /* bytes [0, filled) are in the file */
    time_t stamped;         /* when the .meta's access stamp was last set */
    char temp_path[PATH_MAX]; /* the fill's file until renamed or unlinked, else "" */
    mc_err failure;
    pthread_cond_t progress;
    mc_cache_entry *hash_next;
    mc_cache_entry *lru_prev, *lru_next; /* head: most recently used */
};

typedef struct fill_thread {
    pthread_t thread;
    bool done;
    struct fill_thread *next;
} fill_thread;

struct mc_cache {
    char *dir;
    uint64_t max_bytes;
    mc_s3_pool *s3;
    pthread_mutex_t lock;
    mc_cache_entry *buckets[BUCKETS];
    mc_cache_entry *lru_head, *lru_tail;
    fill_thread *fills;
    bool closing;
    mc_cache_stats stats;
    mc_cache_fill_hook hook;
    void *hook_ctx;
};

/* ---- names and paths ---------------------------------------------------- */

static void key_name(const char *key, char name[NAME_LEN + 1]) {
    mc_sigv4_sha256_hex(key, strlen(key), name);
}

static bool is_name(const char *s, size_t len) {
    if (len != NAME_LEN) return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

static void entry_path(const mc_cache *c, const char *name, const char *ext, char *out,
                       size_t cap) {
    snprintf(out, cap, "%s/%s.%s", c->dir, name, ext);
}

static size_t bucket_of(const char *name) {
    size_t h = 0;
    for (int i = 0; i < 8; i++) h = h * 16 + (size_t)(name[i] <= '9' ? name[i] - '0' : name[i] - 'a' + 10);
    return h % BUCKETS;
}

/* ---- the index (lock held) ---------------------------------------------- */

static mc_cache_entry *hash_find(mc_cache *c, const char *name, const char *key) {
    for (mc_cache_entry *e = c->buckets[bucket_of(name)]; e; e = e->hash_next)
        if (strcmp(e->name, name) == 0 && strcmp(e->key, key) == 0) return e;
    return NULL;
}

static void hash_insert(mc_cache *c, mc_cache_entry *e) {
    mc_cache_entry **b = &c->buckets[bucket_of(e->name)];
    e->hash_next = *b;
    *b = e;
    e->hashed = true;
}

static void hash_remove(mc_cache *c, mc_cache_entry *e) {
    if (!e->hashed) return;
    for (mc_cache_entry **p = &c->buckets[bucket_of(e->name)]; *p; p = &(*p)->hash_next) {
        if (*p == e) {
            *p = e->hash_next;
            break;
        }
    }
    e->hash_next = NULL;
    e->hashed = false;
}

static void lru_unlink(mc_cache *c, mc_cache_entry *e) {
    if (e->lru_prev) e->lru_prev->lru_next = e->lru_next;
    else c->lru_head = e->lru_next;
    if (e->lru_next) e->lru_next->lru_prev = e->lru_prev;
    else c->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_push_head(mc_cache *c, mc_cache_entry *e) {
    e->lru_prev = NULL;
    e->lru_next = c->lru_head;
    if (c->lru_head) c->lru_head->lru_prev = e;
    else c->lru_tail = e;
    c->lru_head = e;
}

static mc_cache_entry *entry_new(mc_cache *c, const char *key, const char *name) {
    mc_cache_entry *e = calloc(1, sizeof *e);
    if (!e || !(e->key = strdup(key))) {
        free(e);
        return NULL;
    }
    e->cache = c;
    memcpy(e->name, name, sizeof e->name);
    e->fd = -1;
    pthread_cond_init(&e->progress, NULL);
    return e;
}

static void entry_free(mc_cache_entry *e) {
    if (e->fd >= 0) close(e->fd);
    pthread_cond_destroy(&e->progress);
    free(e->key);
    free(e);
}

/* Drops a finished object from the index and the disk. Its readers' fds stay valid. */
static void evict(mc_cache *c, mc_cache_entry *e) {
    char path[PATH_MAX];
    entry_path(c, e->name, "meta", path, sizeof path);
    unlink(path);
    entry_path(c, e->name, "data", path, sizeof path);
    unlink(path);
    lru_unlink(c, e);
    hash_remove(c, e);
    e->indexed = false;
    c->stats.bytes -= e->obj.size;
    c->stats.objects--;
    c->stats.evictions++;
    if (e->refs == 0) entry_free(e);
}

/* Evicts the least recently used unreferenced objects until the bound holds. */
static void evict_to_bound(mc_cache *c) {
    mc_cache_entry *e = c->lru_tail;
    while (e && c->stats.bytes > c->max_bytes) {
        mc_cache_entry *prev = e->lru_prev;
        if (e->refs == 0) evict(c, e);
        e = prev;
    }
}

static void unref(mc_cache *c, mc_cache_entry *e) {
    if (--e->refs > 0) return;
    if (e->indexed) {
        close(e->fd);
        e->fd = -1;
        evict_to_bound(c);
    } else {
        entry_free(e);
    }
}

/* ---- the fill ----------------------------------------------------------- */

typedef struct fill_job {
    mc_cache *cache;
    mc_cache_entry *entry;
    fill_thread *thread;
    mc_s3_object_info info;
    mc_err stop;            /* why the write callback stopped the GET, if it did */
    char *block;            /* bytes received, not yet in the file */
    size_t block_len;
    size_t block_target;    /* flush at this many: FIRST_BLOCK, doubling to BLOCK_MAX */
} fill_job;

/* The fill writes the file in blocks, not in libcurl's 16 KiB pieces: the
 * page cache then holds the file in large folios and every sendfile of a
 * hit walks a few of them instead of dozens (docs/BENCHMARKS.md, stream).
 * The first block is small so a miss's first bytes still leave early. */
#define FIRST_BLOCK (64 * 1024)
#define BLOCK_MAX (2 * 1024 * 1024)

/* S3's answer made known to the acquirers waiting for it. */
static void publish_headers(fill_job *job) {
    mc_cache *c = job->cache;
    mc_cache_entry *e = job->entry;
    pthread_mutex_lock(&c->lock);
    e->obj.size = job->info.object_size;
    snprintf(e->obj.etag, sizeof e->obj.etag, "\"%s\"", job->info.etag);
    e->obj.last_modified = job->info.last_modified_time;
    e->oversize = e->obj.size > c->max_bytes;
    e->headers_known = true;
    pthread_cond_broadcast(&e->progress);
    pthread_mutex_unlock(&c->lock);
    if (e->oversize) {
        unlink(e->temp_path);
        e->temp_path[0] = '\0';
    }
}

static int write_all(int fd, const char *data, size_t len, uint64_t offset) {
    while (len > 0) {
        ssize_t n = pwrite(fd, data, len, (off_t)offset);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        data += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

/* The block into the file, made known to the readers (and the test hook). */
static int flush_block(fill_job *job) {
    mc_cache *c = job->cache;
    mc_cache_entry *e = job->entry;
    if (job->block_len == 0) return 0;
    if (write_all(e->fd, job->block, job->block_len, e->filled) < 0) {
        mc_err_set(&job->stop, MC_ERR_INTERNAL, "write %s: %s", c->dir, strerror(errno));
        return -1;
    }
    pthread_mutex_lock(&c->lock);
    e->filled += job->block_len;
    pthread_cond_broadcast(&e->progress);
    bool closing = c->closing;
    mc_cache_fill_hook hook = c->hook;
    void *hook_ctx = c->hook_ctx;
    uint64_t filled = e->filled;
    pthread_mutex_unlock(&c->lock);
    job->block_len = 0;
    if (job->block_target < BLOCK_MAX) job->block_target *= 2;
    if (closing) {
        mc_err_set(&job->stop, MC_ERR_UNAVAILABLE, "the cache is closing");
        return -1;
    }
    if (hook && hook(hook_ctx, e->key, filled) < 0) {
        mc_err_set(&job->stop, MC_ERR_UNAVAILABLE, "broken off by the fill hook");
        return -1;
    }
    return 0;
}

static int fill_write(void *ctx, const char *data, size_t len) {
    fill_job *job = ctx;
    mc_cache_entry *e = job->entry;
    if (!e->headers_known) publish_headers(job);
    if (e->filled + job->block_len + len > e->obj.size) {
        mc_err_set(&job->stop, MC_ERR_REMOTE, "more bytes than the announced %" PRIu64,
                   e->obj.size);
        return -1;
    }
    while (len > 0) {
        size_t room = job->block_target - job->block_len;
        size_t n = len < room ? len : room;
        memcpy(job->block + job->block_len, data, n);
        job->block_len += n;
        data += n;
        len -= n;
        if (job->block_len == job->block_target && flush_block(job) < 0) return -1;
    }
    return 0;
}

/* The .meta beside a finished .data: written to a temporary file and renamed. */
static int write_meta(mc_cache *c, const mc_cache_entry *e, mc_err *err) {
    char tmp[PATH_MAX], path[PATH_MAX], buf[META_MAX];
    int len = snprintf(buf, sizeof buf, META_MAGIC "size %" PRIu64 "\netag %s\nmtime %lld\nkey %s",
                       e->obj.size, e->obj.etag, (long long)e->obj.last_modified, e->key);
    snprintf(tmp, sizeof tmp, "%s/" FILL_PREFIX "XXXXXX", c->dir);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) return mc_err_set(err, MC_ERR_INTERNAL, "%s: %s", tmp, strerror(errno));
    int rc = write_all(fd, buf, (size_t)len, 0) < 0 || fdatasync(fd) < 0 ? -1 : 0;
    close(fd);
    entry_path(c, e->name, "meta", path, sizeof path);
    if (rc == 0 && rename(tmp, path) < 0) rc = -1;
    if (rc < 0) {
        mc_err_set(err, MC_ERR_INTERNAL, "%s: %s", path, strerror(errno));
        unlink(tmp);
    }
    return rc;
}

/* The data under its name, then the meta that makes it count after a restart. */
static int commit_files(mc_cache *c, mc_cache_entry *e, mc_err *err) {
    char path[PATH_MAX];
    entry_path(c, e->name, "data", path, sizeof path);
    if (fdatasync(e->fd) < 0 || rename(e->temp_path, path) < 0)
        return mc_err_set(err, MC_ERR_INTERNAL, "%s: %s", path, strerror(errno));
    e->temp_path[0] = '\0';
    if (write_meta(c, e, err) < 0) {
        unlink(path);
        return -1;
    }
    return 0;
}

/* S3's failures as the server maps them: 5xx are S3 being unavailable. */
static void classify(mc_err *err) {
    if (err->kind == MC_ERR_REMOTE && err->status >= 500) err->kind = MC_ERR_UNAVAILABLE;
}

static int fill_run(fill_job *job, mc_err *err) {
    mc_cache *c = job->cache;
    mc_cache_entry *e = job->entry;
    mc_s3 *s3 = mc_s3_pool_get(c->s3, err);
    if (!s3) return -1;
    int rc = mc_s3_get_object(s3, e->key, NULL, fill_write, job, &job->info, err);
    mc_s3_pool_put(c->s3, s3);
    if (rc == 0 && flush_block(job) < 0) {
        *err = job->stop;
        return -1;
    }
    if (rc < 0) {
        if (job->stop.kind != MC_ERR_NONE) *err = job->stop;
        classify(err);
        return -1;
    }
    if (!e->headers_known) publish_headers(job); /* an empty object gets no write call */
    if (e->filled != e->obj.size)
        return mc_err_set(err, MC_ERR_UNAVAILABLE, "body ended after %" PRIu64 " of %" PRIu64
                          " bytes", e->filled, e->obj.size);
    return e->oversize ? 0 : commit_files(c, e, err);
}

static void fill_succeeded(mc_cache *c, mc_cache_entry *e) {
    e->state = FINISHED;
    if (e->oversize) {
        hash_remove(c, e);
    } else {
        e->indexed = true;
        lru_push_head(c, e);
        c->stats.bytes += e->obj.size;
        c->stats.objects++;
    }
    pthread_cond_broadcast(&e->progress);
    evict_to_bound(c);
}

static void fill_failed(mc_cache *c, mc_cache_entry *e, const mc_err *err) {
    e->state = FAILED;
    e->failure = *err;
    hash_remove(c, e);
    c->stats.s3_failures++;
    if (e->temp_path[0]) {
        unlink(e->temp_path);
        e->temp_path[0] = '\0';
    }
    pthread_cond_broadcast(&e->progress);
}

static void *fill_main(void *arg) {
    fill_job *job = arg;
    mc_cache *c = job->cache;
    mc_cache_entry *e = job->entry;
    mc_err err = {0};
    int rc = fill_run(job, &err);
    if (rc < 0) mc_err_wrap(&err, "cache fill %s", e->key);
    pthread_mutex_lock(&c->lock);
    if (rc == 0) fill_succeeded(c, e);
    else fill_failed(c, e, &err);
    job->thread->done = true;
    unref(c, e);
    pthread_mutex_unlock(&c->lock);
    free(job->block);
    free(job);
    return NULL;
}

/* Joins the fill threads that have finished (lock held; they no longer need it). */
static void reap_fills(mc_cache *c) {
    for (fill_thread **p = &c->fills; *p;) {
        fill_thread *t = *p;
        if (!t->done) {
            p = &t->next;
            continue;
        }
        pthread_join(t->thread, NULL);
        *p = t->next;
        free(t);
    }
}

/* A new entry for key with its fill started (lock held). */
static mc_cache_entry *start_fill(mc_cache *c, const char *key, const char *name, mc_err *err) {
    reap_fills(c);
    mc_cache_entry *e = entry_new(c, key, name);
    fill_job *job = calloc(1, sizeof *job);
    fill_thread *t = calloc(1, sizeof *t);
    char *block = malloc(BLOCK_MAX);
    if (!e || !job || !t || !block) {
        mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        goto fail;
    }
    snprintf(e->temp_path, sizeof e->temp_path, "%s/" FILL_PREFIX "XXXXXX", c->dir);
    e->fd = mkostemp(e->temp_path, O_CLOEXEC);
    if (e->fd < 0) {
        mc_err_set(err, MC_ERR_INTERNAL, "cache file %s: %s", e->temp_path, strerror(errno));
        goto fail;
    }
    *job = (fill_job){.cache = c, .entry = e, .thread = t, .block = block,
                      .block_target = FIRST_BLOCK};
    e->refs = 1; /* the fill's */
    int rc = pthread_create(&t->thread, NULL, fill_main, job);
    if (rc != 0) {
        mc_err_set(err, MC_ERR_INTERNAL, "cache fill thread: %s", strerror(rc));
        unlink(e->temp_path);
        goto fail;
    }
    t->next = c->fills;
    c->fills = t;
    hash_insert(c, e);
    c->stats.s3_fetches++;
    return e;
fail:
    if (e) entry_free(e);
    free(block);
    free(job);
    free(t);
    return NULL;
}

/* ---- acquire and read --------------------------------------------------- */

/* A hit (lock held): the entry referenced, its file open, moved to the LRU head. */
static int hit(mc_cache *c, mc_cache_entry *e, mc_err *err) {
    if (e->fd < 0) {
        char path[PATH_MAX];
        entry_path(c, e->name, "data", path, sizeof path);
        e->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (e->fd < 0)
            return mc_err_set(err, MC_ERR_INTERNAL, "cache file %s: %s", path, strerror(errno));
    }
    e->refs++;
    c->stats.hits++;
    lru_unlink(c, e);
    lru_push_head(c, e);
    return 0;
}

/* The access stamp that orders the LRU after a restart: an inode update,
 * so at most one per entry every STAMP_INTERVAL_S (the order after a
 * restart is that coarse; while running, the LRU list is exact). */
#define STAMP_INTERVAL_S 10

static bool stamp_due(mc_cache_entry *e) {
    time_t now = time(NULL);
    if (now - e->stamped < STAMP_INTERVAL_S) return false;
    e->stamped = now;
    return true;
}

static void stamp(const mc_cache *c, const char *name) {
    char path[PATH_MAX];
    entry_path(c, name, "meta", path, sizeof path);
    utimensat(AT_FDCWD, path, NULL, 0);
}

int mc_cache_acquire(mc_cache *c, const char *key, mc_cache_entry **out, mc_err *err) {
    *out = NULL;
    if (!key || !*key || strlen(key) > MC_S3_KEY_MAX)
        return mc_err_set(err, MC_ERR_INVALID, "cache key is empty or too long");
    char name[NAME_LEN + 1];
    key_name(key, name);
    pthread_mutex_lock(&c->lock);
    mc_cache_entry *e = hash_find(c, name, key);
    if (e && e->state == FINISHED) {
        if (hit(c, e, err) == 0) {
            bool due = stamp_due(e);
            pthread_mutex_unlock(&c->lock);
            if (due) stamp(c, name);
            *out = e;
            return 0;
        }
        evict(c, e); /* its file went missing (unreferenced: fd closed): fetch anew */
        e = NULL;
    }
    if (e) {
        c->stats.joins++;
    } else if ((e = start_fill(c, key, name, err))) {
        c->stats.misses++;
    } else {
        pthread_mutex_unlock(&c->lock);
        return -1;
    }
    e->refs++;
    while (!e->headers_known && e->state == FILLING) pthread_cond_wait(&e->progress, &c->lock);
    int rc = 0;
    if (e->state == FAILED) {
        if (err) *err = e->failure;
        unref(c, e);
        rc = -1;
    } else {
        *out = e;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

void mc_cache_release(mc_cache_entry *e) {
    if (!e) return;
    mc_cache *c = e->cache;
    pthread_mutex_lock(&c->lock);
    unref(c, e);
    pthread_mutex_unlock(&c->lock);
}

const mc_cache_object *mc_cache_entry_object(const mc_cache_entry *e) {
    return &e->obj;
}

int mc_cache_entry_dup_fd(mc_cache_entry *e, mc_err *err) {
    int fd = fcntl(e->fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return mc_err_set(err, MC_ERR_INTERNAL, "dup cache file: %s", strerror(errno));
    return fd;
}

/* Blocks until bytes [0, need) are in the file or the fill ended; returns
 * how many are there, or -1 with the fill's failure when fewer than need. */
static int64_t wait_for(mc_cache_entry *e, uint64_t need, mc_err *err) {
    mc_cache *c = e->cache;
    pthread_mutex_lock(&c->lock);
    while (e->state == FILLING && e->filled < need) pthread_cond_wait(&e->progress, &c->lock);
    int64_t rc = (int64_t)e->filled;
    if (e->filled < need) {
        if (err) *err = e->failure;
        rc = -1;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int64_t mc_cache_wait_some(mc_cache_entry *e, uint64_t from, mc_err *err) {
    if (from >= e->obj.size)
        return mc_err_set(err, MC_ERR_INVALID, "cache wait from %" PRIu64 " past the size %" PRIu64,
                          from, e->obj.size);
    return wait_for(e, from + 1, err);
}

int mc_cache_wait(mc_cache_entry *e, uint64_t end, mc_err *err) {
    if (end > e->obj.size)
        return mc_err_set(err, MC_ERR_INVALID, "cache wait to %" PRIu64 " past the size %" PRIu64,
                          end, e->obj.size);
    return wait_for(e, end, err) < 0 ? -1 : 0;
}

int mc_cache_wait_finished(mc_cache_entry *e, mc_err *err) {
    mc_cache *c = e->cache;
    pthread_mutex_lock(&c->lock);
    while (e->state == FILLING) pthread_cond_wait(&e->progress, &c->lock);
    int rc = 0;
    if (e->state == FAILED) {
        if (err) *err = e->failure;
        rc = -1;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

bool mc_cache_entry_finished(const mc_cache_entry *e) {
    mc_cache *c = e->cache;
    pthread_mutex_lock(&c->lock);
    bool finished = e->state == FINISHED;
    pthread_mutex_unlock(&c->lock);
    return finished;
}

void mc_cache_get_stats(mc_cache *c, mc_cache_stats *out) {
    pthread_mutex_lock(&c->lock);
    *out = c->stats;
    pthread_mutex_unlock(&c->lock);
}

void mc_cache_set_fill_hook(mc_cache *c, mc_cache_fill_hook hook, void *ctx) {
    pthread_mutex_lock(&c->lock);
    c->hook = hook;
    c->hook_ctx = ctx;
    pthread_mutex_unlock(&c->lock);
}

/* ---- open: the index rebuilt from the directory ------------------------- */

typedef struct found {
    mc_cache_entry *entry;
    struct timespec stamp;
} found;

static int parse_meta(char *text, mc_cache_object *obj, char **key) {
    unsigned long long size;
    long long mtime;
    char etag[sizeof obj->etag];
    int used = 0;
    if (strncmp(text, META_MAGIC, strlen(META_MAGIC)) != 0) return -1;
    text += strlen(META_MAGIC);
    if (sscanf(text, "size %llu\netag %129s\nmtime %lld\nkey %n", &size, etag, &mtime, &used) != 3 ||
        used == 0)
        return -1;
    obj->size = size;
    snprintf(obj->etag, sizeof obj->etag, "%s", etag);
    obj->last_modified = (time_t)mtime;
    *key = text + used;
    return 0;
}

/* The entry a .meta describes, if it and its .data agree. */
static mc_cache_entry *load_entry(mc_cache *c, const char *name, struct timespec *stamp_out) {
    char path[PATH_MAX], text[META_MAX + 1];
    entry_path(c, name, "meta", path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat st;
    ssize_t n = fstat(fd, &st) == 0 ? read(fd, text, META_MAX) : -1;
    close(fd);
    if (n <= 0) return NULL;
    text[n] = '\0';
    mc_cache_object obj;
    char *key, check[NAME_LEN + 1];
    if (parse_meta(text, &obj, &key) < 0 || !*key || strlen(key) > MC_S3_KEY_MAX) return NULL;
    key_name(key, check);
    struct stat data;
    entry_path(c, name, "data", path, sizeof path);
    if (strcmp(check, name) != 0 || stat(path, &data) < 0 || !S_ISREG(data.st_mode) ||
        (uint64_t)data.st_size != obj.size)
        return NULL;
    mc_cache_entry *e = entry_new(c, key, name);
    if (!e) return NULL;
    e->obj = obj;
    e->state = FINISHED;
    e->headers_known = true;
    e->indexed = true;
    e->filled = obj.size;
    *stamp_out = st.st_mtim;
    return e;
}

static int by_stamp(const void *a, const void *b) {
    const struct timespec *x = &((const found *)a)->stamp, *y = &((const found *)b)->stamp;
    if (x->tv_sec != y->tv_sec) return x->tv_sec < y->tv_sec ? -1 : 1;
    return x->tv_nsec < y->tv_nsec ? -1 : x->tv_nsec > y->tv_nsec;
}

/* Indexes every complete pair, oldest stamp first so the newest ends at the head. */
static int index_finished(mc_cache *c, DIR *d, mc_err *err) {
    found *list = NULL;
    size_t count = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len != NAME_LEN + 5 || strcmp(de->d_name + NAME_LEN, ".meta") != 0 ||
            !is_name(de->d_name, NAME_LEN))
            continue;
        char name[NAME_LEN + 1];
        memcpy(name, de->d_name, NAME_LEN);
        name[NAME_LEN] = '\0';
        struct timespec ts;
        mc_cache_entry *e = load_entry(c, name, &ts);
        if (!e) continue;
        if (count == cap) {
            found *grown = realloc(list, (cap = cap ? cap * 2 : 64) * sizeof *list);
            if (!grown) {
                entry_free(e);
                for (size_t i = 0; i < count; i++) entry_free(list[i].entry);
                free(list);
                return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
            }
            list = grown;
        }
        list[count++] = (found){e, ts};
    }
    if (count) qsort(list, count, sizeof *list, by_stamp);
    for (size_t i = 0; i < count; i++) {
        mc_cache_entry *e = list[i].entry;
        hash_insert(c, e);
        lru_push_head(c, e);
        c->stats.bytes += e->obj.size;
        c->stats.objects++;
    }
    free(list);
    return 0;
}

/* Deletes interrupted fills and halves of pairs that did not make the index. */
static void remove_strays(mc_cache *c, DIR *d) {
    struct dirent *de;
    rewinddir(d);
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        size_t len = strlen(n);
        bool ours = strncmp(n, FILL_PREFIX, strlen(FILL_PREFIX)) == 0;
        if (!ours && len == NAME_LEN + 5 && is_name(n, NAME_LEN) &&
            (strcmp(n + NAME_LEN, ".data") == 0 || strcmp(n + NAME_LEN, ".meta") == 0)) {
            char name[NAME_LEN + 1];
            memcpy(name, n, NAME_LEN);
            name[NAME_LEN] = '\0';
            bool indexed = false;
            for (mc_cache_entry *e = c->buckets[bucket_of(name)]; e; e = e->hash_next)
                indexed |= strcmp(e->name, name) == 0;
            ours = !indexed;
        }
        if (ours) unlinkat(dirfd(d), n, 0);
    }
}

static void free_index(mc_cache *c) {
    for (size_t i = 0; i < BUCKETS; i++) {
        for (mc_cache_entry *e = c->buckets[i], *next; e; e = next) {
            next = e->hash_next;
            entry_free(e);
        }
        c->buckets[i] = NULL;
    }
}

mc_cache *mc_cache_open(const mc_cache_options *opt, mc_err *err) {
    if (!opt->dir || !*opt->dir || !opt->s3) {
        mc_err_set(err, MC_ERR_INVALID, "cache needs a directory and an S3 pool");
        return NULL;
    }
    char dir_slash[PATH_MAX];
    snprintf(dir_slash, sizeof dir_slash, "%s/", opt->dir);
    if (mc_mkdir_parents(dir_slash, err) < 0) return NULL;
    mc_cache *c = calloc(1, sizeof *c);
    if (!c || !(c->dir = strdup(opt->dir))) {
        free(c);
        mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    c->max_bytes = opt->max_bytes;
    c->s3 = opt->s3;
    pthread_mutex_init(&c->lock, NULL);
    DIR *d = opendir(c->dir);
    int rc = d ? index_finished(c, d, err)
               : mc_err_set(err, MC_ERR_INTERNAL, "cache dir %s: %s", c->dir, strerror(errno));
    if (rc == 0) {
        remove_strays(c, d);
        evict_to_bound(c);
    }
    if (d) closedir(d);
    if (rc < 0) {
        mc_cache_close(c);
        return NULL;
    }
    return c;
}

void mc_cache_close(mc_cache *c) {
    if (!c) return;
    pthread_mutex_lock(&c->lock);
    c->closing = true;
    fill_thread *fills = c->fills;
    c->fills = NULL;
    pthread_mutex_unlock(&c->lock);
    while (fills) {
        fill_thread *next = fills->next;
        pthread_join(fills->thread, NULL);
        free(fills);
        fills = next;
    }
    free_index(c);
    pthread_mutex_destroy(&c->lock);
    free(c->dir);
    free(c);
}
