/* test_stream_cache.c — stream/cache against the real MinIO of scripts/stack.sh.
 *
 * Proves: a miss then a hit with the bytes that were put (and an empty
 * object); single flight — 16 threads acquiring one uncached 32 MiB object
 * cause one S3 GET and 15 joins, all read identical bytes, and readers read
 * the first bytes while the fill is still running (held by the fill hook, so
 * the proof does not depend on timing); the index surviving a restart with no
 * S3 fetch and stray partial files removed; cached objects served while S3 is
 * unreachable and misses failing with MC_ERR_UNAVAILABLE; LRU eviction by
 * bytes that spares a referenced object and keeps an evicted object's open
 * fd readable; a missing key as MC_ERR_NOT_FOUND with nothing cached; an
 * object larger than the cache served without being indexed; and a fill that
 * breaks mid-way failing its reader, leaving no file, and refetched next time.
 * Each run uses its own key prefix and its own temporary cache directory. */
#include "itest.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "common/config.h"
#include "common/sigv4.h"
#include "stream/cache.h"

#define KiB 1024u
#define MiB (1024u * 1024u)
#define MAX_KEYS 32
#define READERS 16

typedef struct fixture {
    mc_s3_config cfg;
    mc_s3 *s3;
    mc_s3_pool *pool;
    char prefix[128];
    char root[256];             /* this run's temporary directory */
    char *keys[MAX_KEYS];       /* objects to delete at teardown */
    size_t key_count;
} fixture;

/* ---- helpers ------------------------------------------------------------- */

static char *pattern(uint64_t seed, size_t len) {
    char *buf = malloc(len ? len : 1);
    uint64_t x = seed | 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        buf[i] = (char)((x * 0x2545f4914f6cdd1dull) >> 56);
    }
    return buf;
}

/* Puts len pattern bytes under prefix/name; the key goes to key, the bytes are returned. */
static char *put(fixture *f, const char *name, size_t len, uint64_t seed, char *key, size_t cap) {
    snprintf(key, cap, "%s/%s", f->prefix, name);
    char *data = pattern(seed, len);
    mc_err err = {0};
    if (mc_s3_put_object(f->s3, key, data, len, "video/mp4", NULL, &err) < 0)
        fail_msg("put %s: %s", key, err.msg);
    assert_true(f->key_count < MAX_KEYS);
    f->keys[f->key_count++] = strdup(key);
    return data;
}

static void cache_dir(fixture *f, const char *name, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s", f->root, name);
}

static mc_cache *open_cache(const char *dir, uint64_t max_bytes, mc_s3_pool *pool) {
    mc_cache_options opt = {.dir = dir, .max_bytes = max_bytes, .s3 = pool};
    mc_err err = {0};
    mc_cache *c = mc_cache_open(&opt, &err);
    if (!c) fail_msg("mc_cache_open %s: %s", dir, err.msg);
    return c;
}

static mc_cache_entry *acquire(mc_cache *c, const char *key) {
    mc_cache_entry *e = NULL;
    mc_err err = {0};
    if (mc_cache_acquire(c, key, &e, &err) < 0) fail_msg("acquire %s: %s", key, err.msg);
    return e;
}

/* The whole object read from a fresh descriptor, following the fill 256 KiB at a time. */
static char *read_all(mc_cache_entry *e) {
    uint64_t size = mc_cache_entry_object(e)->size;
    char *buf = malloc(size ? size : 1);
    mc_err err = {0};
    int fd = mc_cache_entry_dup_fd(e, &err);
    if (fd < 0) fail_msg("dup fd: %s", err.msg);
    for (uint64_t off = 0; off < size;) {
        uint64_t end = off + 256 * KiB < size ? off + 256 * KiB : size;
        if (mc_cache_wait(e, end, &err) < 0) fail_msg("wait: %s", err.msg);
        ssize_t n = pread(fd, buf + off, end - off, (off_t)off);
        assert_true(n > 0);
        off += (uint64_t)n;
    }
    close(fd);
    if (mc_cache_wait_finished(e, &err) < 0) fail_msg("fill: %s", err.msg);
    return buf;
}

/* Releases e once its fill is over (a reader that only needed the headers
 * would release at once; close would then break the fill off). */
static void release_whole(mc_cache_entry *e) {
    mc_err err = {0};
    if (mc_cache_wait_finished(e, &err) < 0) fail_msg("fill: %s", err.msg);
    mc_cache_release(e);
}

static void assert_entry_bytes(mc_cache_entry *e, const char *expected, size_t len) {
    assert_int_equal(mc_cache_entry_object(e)->size, len);
    char *got = read_all(e);
    assert_memory_equal(got, expected, len);
    free(got);
}

static mc_cache_stats stats_of(mc_cache *c) {
    mc_cache_stats s;
    mc_cache_get_stats(c, &s);
    return s;
}

/* Files in dir (regular, any name), and the number ending in suffix. */
static int count_files(const char *dir, const char *suffix) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name), sl = strlen(suffix);
        if (de->d_name[0] == '.') continue;
        if (len >= sl && strcmp(de->d_name + len - sl, suffix) == 0) n++;
    }
    closedir(d);
    return n;
}

/* Whether key's finished object is on disk under its name (sha256 of the key). */
static bool on_disk(const char *dir, const char *key) {
    char name[65], path[600];
    mc_sigv4_sha256_hex(key, strlen(key), name);
    snprintf(path, sizeof path, "%s/%s.data", dir, name);
    return access(path, F_OK) == 0;
}

static void write_file(const char *path, const char *text) {
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) remove_tree(path);
        else unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* ---- setup --------------------------------------------------------------- */

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    itest_s3_config(&f->cfg);
    mc_err err = {0};
    if (!(f->s3 = mc_s3_new(&f->cfg, &err))) fail_msg("mc_s3_new: %s", err.msg);
    assert_non_null(f->pool = mc_s3_pool_new(&f->cfg));
    itest_unique(f->prefix, sizeof f->prefix, "itest-stream-cache");
    snprintf(f->root, sizeof f->root, "/tmp/mcloud-cache-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    for (size_t i = 0; i < f->key_count; i++) {
        mc_s3_delete_object(f->s3, f->keys[i], NULL);
        free(f->keys[i]);
    }
    remove_tree(f->root);
    mc_s3_pool_free(f->pool);
    mc_s3_free(f->s3);
    free(f);
    return 0;
}

/* ---- (a) miss then hit --------------------------------------------------- */

static void test_miss_then_hit(void **state) {
    fixture *f = *state;
    char dir[512], key[256], empty_key[256];
    cache_dir(f, "hit", dir, sizeof dir);
    char *data = put(f, "hit.mp4", 3 * MiB + 17, 1, key, sizeof key);
    char *none = put(f, "empty.m4s", 0, 2, empty_key, sizeof empty_key);
    mc_cache *c = open_cache(dir, 64 * MiB, f->pool);

    mc_cache_entry *e = acquire(c, key);
    const mc_cache_object *obj = mc_cache_entry_object(e);
    assert_true(obj->etag[0] == '"' && obj->etag[strlen(obj->etag) - 1] == '"' &&
                strlen(obj->etag) > 2);
    assert_true(obj->last_modified > 0);
    assert_entry_bytes(e, data, 3 * MiB + 17);
    assert_true(mc_cache_entry_finished(e));
    char etag[sizeof obj->etag];
    snprintf(etag, sizeof etag, "%s", obj->etag);
    mc_cache_release(e);
    mc_cache_stats s = stats_of(c);
    assert_int_equal(s.misses, 1);
    assert_int_equal(s.s3_fetches, 1);
    assert_int_equal(s.hits, 0);
    assert_int_equal(s.objects, 1);
    assert_int_equal(s.bytes, 3 * MiB + 17);

    e = acquire(c, key);
    assert_true(mc_cache_entry_finished(e));
    assert_string_equal(mc_cache_entry_object(e)->etag, etag);
    assert_entry_bytes(e, data, 3 * MiB + 17);
    mc_cache_release(e);
    s = stats_of(c);
    assert_int_equal(s.hits, 1);
    assert_int_equal(s.s3_fetches, 1);

    /* An empty object gets no body bytes: it must still finish and be cached. */
    e = acquire(c, empty_key);
    assert_int_equal(mc_cache_entry_object(e)->size, 0);
    mc_err err = {0};
    assert_int_equal(mc_cache_wait(e, 0, &err), 0);
    release_whole(e);
    e = acquire(c, empty_key);
    assert_true(mc_cache_entry_finished(e));
    mc_cache_release(e);
    s = stats_of(c);
    assert_int_equal(s.s3_fetches, 2);
    assert_int_equal(s.hits, 2);
    assert_int_equal(s.objects, 2);

    /* A client that goes away at once: the fill goes on and is found next time. */
    char early_key[256];
    char *early = put(f, "early.mp4", 8 * MiB, 9, early_key, sizeof early_key);
    mc_cache_release(acquire(c, early_key));
    e = acquire(c, early_key); /* joins the fill or hits its result */
    assert_entry_bytes(e, early, 8 * MiB);
    mc_cache_release(e);
    s = stats_of(c);
    assert_int_equal(s.s3_fetches, 3);
    assert_int_equal(s.objects, 3);
    mc_cache_close(c);
    free(early);
    free(data);
    free(none);
}

/* ---- (b) single flight, readers following the fill ----------------------- */

/* Holds the fill once PAUSE_AT bytes are in the file until every reader has
 * read them and looked at whether the entry was finished. */
#define PAUSE_AT (64 * KiB)

typedef struct gate {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int readers_past_first_bytes;
} gate;

static int gate_hook(void *ctx, const char *key, uint64_t filled) {
    (void)key;
    gate *g = ctx;
    if (filled < PAUSE_AT) return 0;
    pthread_mutex_lock(&g->lock);
    while (g->readers_past_first_bytes < READERS) pthread_cond_wait(&g->changed, &g->lock);
    pthread_mutex_unlock(&g->lock);
    return 0;
}

typedef struct reader {
    mc_cache *cache;
    const char *key;
    const char *expected;
    gate *gate;
    pthread_barrier_t *start;
    int acquired;
    int first_bytes_equal;
    int saw_unfinished;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned digest_len;
    int whole_read;
} reader;

static void *reader_main(void *arg) {
    reader *r = arg;
    mc_cache_entry *e = NULL;
    mc_err err = {0};
    pthread_barrier_wait(r->start);
    r->acquired = mc_cache_acquire(r->cache, r->key, &e, &err) == 0;
    int fd = r->acquired ? mc_cache_entry_dup_fd(e, &err) : -1;
    char *buf = malloc(256 * KiB);
    if (fd >= 0 && mc_cache_wait(e, PAUSE_AT, &err) == 0) {
        r->saw_unfinished = !mc_cache_entry_finished(e);
        r->first_bytes_equal = pread(fd, buf, PAUSE_AT, 0) == PAUSE_AT &&
                               memcmp(buf, r->expected, PAUSE_AT) == 0;
    }
    pthread_mutex_lock(&r->gate->lock);
    r->gate->readers_past_first_bytes++;
    pthread_cond_broadcast(&r->gate->changed);
    pthread_mutex_unlock(&r->gate->lock);
    if (fd >= 0) {
        EVP_MD_CTX *sha = EVP_MD_CTX_new();
        EVP_DigestInit_ex(sha, EVP_sha256(), NULL);
        uint64_t size = mc_cache_entry_object(e)->size, off = 0;
        while (off < size) {
            uint64_t end = off + 256 * KiB < size ? off + 256 * KiB : size;
            if (mc_cache_wait(e, end, &err) < 0) break;
            ssize_t n = pread(fd, buf, end - off, (off_t)off);
            if (n <= 0) break;
            EVP_DigestUpdate(sha, buf, (size_t)n);
            off += (uint64_t)n;
        }
        r->whole_read = off == size && mc_cache_wait_finished(e, &err) == 0;
        EVP_DigestFinal_ex(sha, r->digest, &r->digest_len);
        EVP_MD_CTX_free(sha);
        close(fd);
    }
    free(buf);
    mc_cache_release(e);
    return NULL;
}

static void test_single_flight(void **state) {
    fixture *f = *state;
    char dir[512], key[256];
    cache_dir(f, "flight", dir, sizeof dir);
    size_t len = 32 * MiB;
    char *data = put(f, "flight.mp4", len, 3, key, sizeof key);
    unsigned char expected[EVP_MAX_MD_SIZE];
    unsigned expected_len = 0;
    EVP_Digest(data, len, expected, &expected_len, EVP_sha256(), NULL);
    mc_cache *c = open_cache(dir, 256 * MiB, f->pool);
    gate g = {.readers_past_first_bytes = 0};
    pthread_mutex_init(&g.lock, NULL);
    pthread_cond_init(&g.changed, NULL);
    mc_cache_set_fill_hook(c, gate_hook, &g);

    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, READERS);
    reader readers[READERS];
    pthread_t threads[READERS];
    for (int i = 0; i < READERS; i++) {
        readers[i] = (reader){.cache = c, .key = key, .expected = data, .gate = &g,
                              .start = &start};
        assert_int_equal(pthread_create(&threads[i], NULL, reader_main, &readers[i]), 0);
    }
    for (int i = 0; i < READERS; i++) pthread_join(threads[i], NULL);

    for (int i = 0; i < READERS; i++) {
        assert_true(readers[i].acquired);
        assert_true(readers[i].first_bytes_equal);
        /* the fill is held in the hook until every reader got here */
        assert_true(readers[i].saw_unfinished);
        assert_true(readers[i].whole_read);
        assert_int_equal(readers[i].digest_len, expected_len);
        assert_memory_equal(readers[i].digest, expected, expected_len);
    }
    mc_cache_stats s = stats_of(c);
    assert_int_equal(s.s3_fetches, 1);
    assert_int_equal(s.misses, 1);
    assert_int_equal(s.joins, READERS - 1);
    assert_int_equal(s.hits, 0);
    assert_int_equal(s.objects, 1);
    assert_int_equal(s.bytes, len);
    mc_cache_close(c);
    pthread_barrier_destroy(&start);
    pthread_cond_destroy(&g.changed);
    pthread_mutex_destroy(&g.lock);
    free(data);
}

/* ---- (c) restart --------------------------------------------------------- */

static void test_restart_rebuilds_index_and_removes_strays(void **state) {
    fixture *f = *state;
    char dir[512], key[256], stray_fill[600], stray_data[600], stray_meta[600];
    cache_dir(f, "restart", dir, sizeof dir);
    char *data = put(f, "restart.m3u8", 200 * KiB + 3, 4, key, sizeof key);
    mc_cache *c = open_cache(dir, 64 * MiB, f->pool);
    mc_cache_entry *e = acquire(c, key);
    assert_entry_bytes(e, data, 200 * KiB + 3);
    mc_cache_release(e);
    mc_cache_close(c);

    /* what an interrupted fill and a torn pair leave behind */
    snprintf(stray_fill, sizeof stray_fill, "%s/fill-AbC123", dir);
    snprintf(stray_data, sizeof stray_data, "%s/%064d.data", dir, 0);
    snprintf(stray_meta, sizeof stray_meta, "%s/%064d.meta", dir, 1);
    write_file(stray_fill, "partial bytes");
    write_file(stray_data, "data without meta");
    write_file(stray_meta, "mcloud-cache 1\nsize 3\netag \"x\"\nmtime 0\nkey nope");

    c = open_cache(dir, 64 * MiB, f->pool);
    assert_int_equal(access(stray_fill, F_OK), -1);
    assert_int_equal(access(stray_data, F_OK), -1);
    assert_int_equal(access(stray_meta, F_OK), -1);
    assert_int_equal(count_files(dir, ""), 2);
    mc_cache_stats s = stats_of(c);
    assert_int_equal(s.objects, 1);
    assert_int_equal(s.bytes, 200 * KiB + 3);
    e = acquire(c, key);
    assert_true(mc_cache_entry_finished(e));
    assert_entry_bytes(e, data, 200 * KiB + 3);
    mc_cache_release(e);
    s = stats_of(c);
    assert_int_equal(s.hits, 1);
    assert_int_equal(s.s3_fetches, 0);
    mc_cache_close(c);
    free(data);
}

/* ---- (d) S3 unreachable -------------------------------------------------- */

/* A local port that refuses connections: bound, never listening. */
static int refusing_port(int *sock) {
    *sock = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(*sock, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(*sock, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

static void test_s3_unreachable_serves_cached_and_fails_misses(void **state) {
    fixture *f = *state;
    char dir[512], key[256], missing[256];
    cache_dir(f, "down", dir, sizeof dir);
    char *data = put(f, "down.mp4", 1 * MiB, 5, key, sizeof key);
    char *other = put(f, "down-uncached.mp4", 1 * KiB, 6, missing, sizeof missing);
    mc_cache *c = open_cache(dir, 64 * MiB, f->pool);
    release_whole(acquire(c, key));
    mc_cache_close(c);

    int sock;
    mc_s3_config down = f->cfg;
    snprintf(down.endpoint, sizeof down.endpoint, "http://127.0.0.1:%d", refusing_port(&sock));
    down.connect_timeout_ms = 1000;
    down.max_retries = 0;
    mc_s3_pool *pool = mc_s3_pool_new(&down);
    c = open_cache(dir, 64 * MiB, pool);
    mc_cache_entry *e = acquire(c, key);
    assert_entry_bytes(e, data, 1 * MiB);
    mc_cache_release(e);

    mc_err err = {0};
    e = NULL;
    assert_int_equal(mc_cache_acquire(c, missing, &e, &err), -1);
    assert_null(e);
    assert_int_equal(err.kind, MC_ERR_UNAVAILABLE);
    mc_cache_stats s = stats_of(c);
    assert_int_equal(s.hits, 1);
    assert_int_equal(s.s3_failures, 1);
    assert_int_equal(s.objects, 1);
    assert_int_equal(count_files(dir, ""), 2);
    mc_cache_close(c);
    mc_s3_pool_free(pool);
    close(sock);
    free(data);
    free(other);
}

/* ---- (e) eviction -------------------------------------------------------- */

static void test_lru_eviction_spares_readers(void **state) {
    fixture *f = *state;
    char dir[512], keys[5][256];
    char *data[5];
    cache_dir(f, "evict", dir, sizeof dir);
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "evict-%c.m4s", 'a' + i);
        data[i] = put(f, name, 1 * MiB, 10 + (uint64_t)i, keys[i], sizeof keys[i]);
    }
    uint64_t max = 3 * MiB;
    mc_cache *c = open_cache(dir, max, f->pool);

    mc_cache_entry *held = acquire(c, keys[0]); /* the oldest, but in use */
    assert_entry_bytes(held, data[0], MiB);
    release_whole(acquire(c, keys[1]));
    release_whole(acquire(c, keys[2]));
    assert_int_equal(stats_of(c).evictions, 0);
    release_whole(acquire(c, keys[3]));
    mc_cache_stats s = stats_of(c);
    assert_int_equal(s.evictions, 1); /* b, not the held a */
    assert_true(on_disk(dir, keys[0]));
    assert_false(on_disk(dir, keys[1]));
    assert_true(s.bytes <= max);
    assert_int_equal(s.objects, 3);
    assert_int_equal(count_files(dir, ".data"), 3);

    mc_err err = {0};
    int fd = mc_cache_entry_dup_fd(held, &err);
    assert_true(fd >= 0);
    mc_cache_release(held);
    release_whole(acquire(c, keys[4])); /* now a is the least recently used */
    s = stats_of(c);
    assert_int_equal(s.evictions, 2);
    assert_false(on_disk(dir, keys[0]));
    assert_true(on_disk(dir, keys[2]) && on_disk(dir, keys[3]) && on_disk(dir, keys[4]));
    assert_true(s.bytes <= max);
    assert_int_equal(count_files(dir, ".data"), 3);
    char *again = malloc(MiB);
    assert_int_equal(pread(fd, again, MiB, 0), MiB); /* the evicted file, still open */
    assert_memory_equal(again, data[0], MiB);
    free(again);
    close(fd);

    uint64_t fetches = s.s3_fetches;
    mc_cache_release(acquire(c, keys[2])); /* still cached */
    assert_int_equal(stats_of(c).s3_fetches, fetches);
    mc_cache_entry *e = acquire(c, keys[1]); /* evicted: fetched again */
    assert_int_equal(stats_of(c).s3_fetches, fetches + 1);
    assert_entry_bytes(e, data[1], MiB);
    mc_cache_release(e);
    s = stats_of(c);
    assert_true(s.bytes <= max);
    assert_int_equal(count_files(dir, ".data"), (int)s.objects);
    mc_cache_close(c);
    for (int i = 0; i < 5; i++) free(data[i]);
}

/* ---- (f) missing key ----------------------------------------------------- */

static void test_missing_key_is_not_found(void **state) {
    fixture *f = *state;
    char dir[512], key[256];
    cache_dir(f, "missing", dir, sizeof dir);
    snprintf(key, sizeof key, "%s/never-put.mp4", f->prefix);
    mc_cache *c = open_cache(dir, 64 * MiB, f->pool);
    for (int i = 0; i < 2; i++) {
        mc_cache_entry *e = NULL;
        mc_err err = {0};
        assert_int_equal(mc_cache_acquire(c, key, &e, &err), -1);
        assert_int_equal(err.kind, MC_ERR_NOT_FOUND);
        assert_null(e);
    }
    mc_cache_stats s = stats_of(c);
    assert_int_equal(s.s3_fetches, 2); /* no negative caching */
    assert_int_equal(s.s3_failures, 2);
    assert_int_equal(s.objects, 0);
    assert_int_equal(count_files(dir, ""), 0);
    mc_cache_close(c);
}

/* ---- (g) larger than the cache ------------------------------------------- */

static void test_object_larger_than_cache_is_served_not_indexed(void **state) {
    fixture *f = *state;
    char dir[512], key[256];
    cache_dir(f, "large", dir, sizeof dir);
    char *data = put(f, "large.mp4", 3 * MiB, 7, key, sizeof key);
    mc_cache *c = open_cache(dir, 1 * MiB, f->pool);
    for (int i = 0; i < 2; i++) {
        mc_cache_entry *e = acquire(c, key);
        assert_entry_bytes(e, data, 3 * MiB);
        assert_true(mc_cache_entry_finished(e));
        assert_int_equal(count_files(dir, ""), 0); /* an unlinked file */
        mc_cache_release(e);
    }
    mc_cache_stats s = stats_of(c);
    assert_int_equal(s.s3_fetches, 2);
    assert_int_equal(s.objects, 0);
    assert_int_equal(s.bytes, 0);
    mc_cache_close(c);
    free(data);
}

/* ---- a fill broken off mid-way ------------------------------------------- */

typedef struct breaker {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    bool reader_in;
} breaker;

/* Breaks the fill once bytes landed, but only after the reader holds the entry. */
static int break_hook(void *ctx, const char *key, uint64_t filled) {
    (void)key;
    (void)filled;
    breaker *b = ctx;
    pthread_mutex_lock(&b->lock);
    while (!b->reader_in) pthread_cond_wait(&b->changed, &b->lock);
    pthread_mutex_unlock(&b->lock);
    return -1;
}

static void test_broken_fill_fails_reader_and_is_refetched(void **state) {
    fixture *f = *state;
    char dir[512], key[256];
    cache_dir(f, "broken", dir, sizeof dir);
    char *data = put(f, "broken.mp4", 4 * MiB, 8, key, sizeof key);
    mc_cache *c = open_cache(dir, 64 * MiB, f->pool);
    breaker b = {.reader_in = false};
    pthread_mutex_init(&b.lock, NULL);
    pthread_cond_init(&b.changed, NULL);
    mc_cache_set_fill_hook(c, break_hook, &b);

    mc_cache_entry *e = acquire(c, key);
    pthread_mutex_lock(&b.lock);
    b.reader_in = true;
    pthread_cond_broadcast(&b.changed);
    pthread_mutex_unlock(&b.lock);
    mc_err err = {0};
    assert_int_equal(mc_cache_wait(e, 4 * MiB, &err), -1);
    assert_int_equal(err.kind, MC_ERR_UNAVAILABLE);
    assert_false(mc_cache_entry_finished(e));
    mc_cache_release(e);
    mc_cache_stats s = stats_of(c);
    assert_int_equal(s.s3_failures, 1);
    assert_int_equal(s.objects, 0);
    assert_int_equal(count_files(dir, ""), 0);

    mc_cache_set_fill_hook(c, NULL, NULL);
    e = acquire(c, key);
    assert_entry_bytes(e, data, 4 * MiB);
    mc_cache_release(e);
    s = stats_of(c);
    assert_int_equal(s.s3_fetches, 2);
    assert_int_equal(s.objects, 1);
    mc_cache_close(c);
    pthread_cond_destroy(&b.changed);
    pthread_mutex_destroy(&b.lock);
    free(data);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_miss_then_hit),
        cmocka_unit_test(test_single_flight),
        cmocka_unit_test(test_restart_rebuilds_index_and_removes_strays),
        cmocka_unit_test(test_s3_unreachable_serves_cached_and_fails_misses),
        cmocka_unit_test(test_lru_eviction_spares_readers),
        cmocka_unit_test(test_missing_key_is_not_found),
        cmocka_unit_test(test_object_larger_than_cache_is_served_not_indexed),
        cmocka_unit_test(test_broken_fill_fails_reader_and_is_refetched),
    };
    return cmocka_run_group_tests_name("stream_cache", tests, setup, teardown);
}
