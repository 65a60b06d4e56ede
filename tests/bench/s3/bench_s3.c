/* bench_s3.c — mcloud-bench-s3, the C side of tests/bench/s3/bench_s3.py.
 *
 * Times one operation of the mcloud S3 client against the S3 server named by
 * the MCLOUD_S3_* environment and prints one JSON line with what it moved:
 *
 *   mcloud-bench-s3 upload KEY SIZE PART_SIZE   multipart upload, streamed parts
 *   mcloud-bench-s3 ranged KEY RANGE_SIZE FILE  one ranged GET per offset in FILE
 *   mcloud-bench-s3 get KEY                     one whole-object GET
 *   mcloud-bench-s3 delete KEY
 *
 * Upload data repeats a 16 MiB random block, so producing it costs a memcpy;
 * downloaded bytes are counted and dropped. One handle, one connection,
 * requests in sequence: the client's own model. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "common/clock.h"
#include "common/s3.h"

#define BLOCK_SIZE (16u << 20)

typedef struct source {
    const char *block;
    uint64_t offset;
} source;

static ssize_t source_read(void *ctx, char *buf, size_t cap) {
    source *s = ctx;
    size_t at = (size_t)(s->offset % BLOCK_SIZE);
    size_t n = cap < BLOCK_SIZE - at ? cap : BLOCK_SIZE - at;
    memcpy(buf, s->block + at, n);
    s->offset += n;
    return (ssize_t)n;
}

static int discard(void *ctx, const char *data, size_t len) {
    (void)data;
    *(uint64_t *)ctx += len;
    return 0;
}

static void report(const char *op, uint64_t bytes, uint64_t requests, double seconds) {
    json_t *line = json_pack("{s:s, s:s, s:I, s:I, s:f}", "client", "mcloud", "op", op,
                             "bytes", (json_int_t)bytes, "requests", (json_int_t)requests,
                             "seconds", seconds);
    json_dumpf(line, stdout, JSON_COMPACT);
    fputc('\n', stdout);
    json_decref(line);
}

static int fail(const char *what, const mc_err *err) {
    fprintf(stderr, "mcloud-bench-s3: %s: %s\n", what, err->msg);
    return 1;
}

static int bench_upload(mc_s3 *s3, const char *key, uint64_t size, uint64_t part_size) {
    char *block = malloc(BLOCK_SIZE);
    if (!block || RAND_bytes((unsigned char *)block, BLOCK_SIZE) != 1) return 1;
    int parts_count = (int)((size + part_size - 1) / part_size);
    mc_s3_part *parts = calloc((size_t)parts_count, sizeof *parts);
    char upload_id[MC_S3_UPLOAD_ID_MAX];
    mc_err err = {0};
    source src = {.block = block};

    double t0 = mc_monotonic_seconds();
    if (mc_s3_create_multipart_upload(s3, key, NULL, upload_id, &err) < 0)
        return fail("create multipart upload", &err);
    for (int i = 0; i < parts_count; i++) {
        uint64_t len = size - (uint64_t)i * part_size < part_size ? size - (uint64_t)i * part_size
                                                                  : part_size;
        parts[i].number = i + 1;
        if (mc_s3_upload_part_stream(s3, key, upload_id, i + 1, len, source_read, &src,
                                     parts[i].etag, &err) < 0)
            return fail("upload part", &err);
    }
    if (mc_s3_complete_multipart_upload(s3, key, upload_id, parts, (size_t)parts_count, NULL,
                                        &err) < 0)
        return fail("complete multipart upload", &err);
    report("upload", size, (uint64_t)parts_count + 2, mc_monotonic_seconds() - t0);
    free(parts);
    free(block);
    return 0;
}

static int bench_ranged(mc_s3 *s3, const char *key, uint64_t range_size, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return 1;
    }
    uint64_t offset, bytes = 0, requests = 0;
    mc_err err = {0};
    double t0 = mc_monotonic_seconds();
    while (fscanf(f, "%" SCNu64, &offset) == 1) {
        mc_s3_range range = {offset, offset + range_size - 1};
        if (mc_s3_get_object(s3, key, &range, discard, &bytes, NULL, &err) < 0) {
            fclose(f);
            return fail("ranged get", &err);
        }
        requests++;
    }
    double seconds = mc_monotonic_seconds() - t0;
    fclose(f);
    report("ranged", bytes, requests, seconds);
    return 0;
}

static int bench_get(mc_s3 *s3, const char *key) {
    uint64_t bytes = 0;
    mc_err err = {0};
    double t0 = mc_monotonic_seconds();
    if (mc_s3_get_object(s3, key, NULL, discard, &bytes, NULL, &err) < 0)
        return fail("get", &err);
    report("get", bytes, 1, mc_monotonic_seconds() - t0);
    return 0;
}

static int bench_delete(mc_s3 *s3, const char *key) {
    mc_err err = {0};
    double t0 = mc_monotonic_seconds();
    if (mc_s3_delete_object(s3, key, &err) < 0) return fail("delete", &err);
    report("delete", 0, 1, mc_monotonic_seconds() - t0);
    return 0;
}

static int usage(void) {
    fprintf(stderr, "usage: mcloud-bench-s3 upload KEY SIZE PART_SIZE | ranged KEY RANGE_SIZE "
                    "OFFSETS_FILE | get KEY | delete KEY\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 3) return usage();
    const char *cmd = argv[1], *key = argv[2];
    mc_s3_config cfg;
    mc_err err = {0};
    mc_config *settings = mc_config_load(NULL, NULL);
    int configured = mc_s3_config_from(settings, &cfg, &err);
    mc_config_free(settings);
    if (configured < 0) return fail("config", &err);
    mc_s3 *s3 = mc_s3_new(&cfg, &err);
    if (!s3) return fail("client", &err);

    int rc;
    if (strcmp(cmd, "upload") == 0 && argc == 5)
        rc = bench_upload(s3, key, strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10));
    else if (strcmp(cmd, "ranged") == 0 && argc == 5)
        rc = bench_ranged(s3, key, strtoull(argv[3], NULL, 10), argv[4]);
    else if (strcmp(cmd, "get") == 0 && argc == 3)
        rc = bench_get(s3, key);
    else if (strcmp(cmd, "delete") == 0 && argc == 3)
        rc = bench_delete(s3, key);
    else
        rc = usage();
    mc_s3_free(s3);
    return rc;
}
