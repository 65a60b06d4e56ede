/* logs.c — `mcloud logs SERVICE|INSTANCE`: the lines every node's agent
 * shipped to Kafka (logs.topic, mcloud.logs; orchestrator/agent/logship.c),
 * read without a consumer group straight from the partitions, so the lines
 * of a container that died, on a node that is gone, are still there (for as
 * long as the topic's retention). Selection and printing are
 * common/logline.h's; the flags are checked before anything is read and a
 * bad one is named. `--engine` asks the nodes' engines through the
 * orchestrator instead (ops.c: the running containers only), for when Kafka
 * cannot be reached.
 *
 * `mcloud kafka partitions TOPIC N` grows a topic (CreatePartitions): the
 * autoscaler's `max` may not exceed a topic's partitions. */
#include "cli/logs.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/ops.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/kafka.h"
#include "common/logline.h"

#define CATCH_UP_TIMEOUT_MS 120000 /* a hang guard on reading the topic up to now */
#define DEFAULT_TAIL 100

typedef struct line {
    int64_t ts_ms;
    int32_t partition;
    int64_t offset;
    char *value;
    size_t len;
} line;

typedef struct reader {
    mc_logline_query q;
    bool json, caught_up, follow;
    long tail;          /* -1: all */
    line *lines;
    size_t n, cap;
} reader;

void mc_cli_logs_usage(void) {
    fprintf(stderr,
            "       mcloud logs SERVICE|INSTANCE [-f] [--since 10m] [--grep TEXT] [--level warn] [--tail N|all] [--json]\n"
            "                                           every node's lines from Kafka (logs.topic), oldest first;\n"
            "                                           --tail 100 by default; --since: s, m, h or d; --level: debug,\n"
            "                                           info, warn or error and above\n"
            "       mcloud logs SERVICE|INSTANCE --engine [--tail N]\n"
            "                                           the running containers' own logs through the orchestrator\n"
            "                                           (when Kafka cannot be reached)\n"
            "       mcloud kafka partitions TOPIC N     grow TOPIC to N partitions (never shrinks)\n");
}

static void print_line(const reader *r, const char *value, size_t len) {
    if (r->json) {
        printf("%.*s\n", (int)len, value);
    } else {
        char out[8192];
        mc_logline_format(value, len, out, sizeof out);
        puts(out);
    }
}

static int by_time(const void *x, const void *y) {
    const line *a = x, *b = y;
    if (a->ts_ms != b->ts_ms) return a->ts_ms < b->ts_ms ? -1 : 1;
    if (a->partition != b->partition) return a->partition < b->partition ? -1 : 1;
    return a->offset < b->offset ? -1 : a->offset > b->offset;
}

/* Up to now: kept, then sorted and the tail printed at the catch-up; after
 * it (-f), printed as they come. */
static int on_message(const mc_kafka_message *m, void *ctx) {
    reader *r = ctx;
    if (!m) {
        if (r->n) qsort(r->lines, r->n, sizeof *r->lines, by_time);
        size_t from = r->tail >= 0 && (size_t)r->tail < r->n ? r->n - (size_t)r->tail : 0;
        for (size_t i = from; i < r->n; i++) print_line(r, r->lines[i].value, r->lines[i].len);
        fflush(stdout);
        r->caught_up = true;
        if (r->follow) fprintf(stderr, "mcloud logs: caught up; following new lines (Ctrl-C to stop)\n");
        return 0;
    }
    if (!mc_logline_match(&r->q, m->key, m->keylen, m->value, m->len, m->timestamp_ms)) return 0;
    if (r->caught_up) {
        print_line(r, m->value, m->len);
        fflush(stdout);
        return 0;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 1024;
        line *l = realloc(r->lines, cap * sizeof *l);
        if (!l) return 1;
        r->lines = l, r->cap = cap;
    }
    char *copy = malloc(m->len + 1);
    if (!copy) return 1;
    memcpy(copy, m->value, m->len);
    copy[m->len] = '\0';
    r->lines[r->n++] = (line){m->timestamp_ms, m->partition, m->offset, copy, m->len};
    return 0;
}

static int bad_flag(const char *flag, const char *why) {
    fprintf(stderr, "mcloud logs: %s: %s\n", flag, why);
    return 2;
}

int mc_cli_logs(int argc, char **argv) {
    reader r = {.tail = DEFAULT_TAIL};
    bool follow = false, engine = false, engine_only_ok = true;
    const char *target = NULL;
    mc_err err = {0};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "-f") == 0 || strcmp(a, "--follow") == 0) follow = true, engine_only_ok = false;
        else if (strcmp(a, "--json") == 0) r.json = true, engine_only_ok = false;
        else if (strcmp(a, "--engine") == 0) engine = true;
        else if (strcmp(a, "--since") == 0 || strcmp(a, "--grep") == 0 || strcmp(a, "--level") == 0 ||
                 strcmp(a, "--tail") == 0) {
            if (!has_value) return bad_flag(a, "needs a value");
            const char *v = argv[++i];
            if (strcmp(a, "--since") == 0) {
                int64_t ms;
                if (mc_logline_parse_duration(v, &ms, &err) < 0) return bad_flag(a, err.msg);
                r.q.since_ms = mc_realtime_ms() - ms;
                engine_only_ok = false;
            } else if (strcmp(a, "--grep") == 0) {
                if (!v[0]) return bad_flag(a, "empty text");
                r.q.grep = v;
                engine_only_ok = false;
            } else if (strcmp(a, "--level") == 0) {
                if (mc_logline_parse_level(v, &r.q.min_level, &err) < 0) return bad_flag(a, err.msg);
                engine_only_ok = false;
            } else if (strcmp(v, "all") == 0) {
                r.tail = -1;
            } else {
                char *end;
                long n = strtol(v, &end, 10);
                if (!v[0] || *end || n < 1 || n > 10000000)
                    return bad_flag(a, "a number of lines from 1 to 10000000, or all");
                r.tail = n;
            }
        } else if (a[0] == '-') {
            return bad_flag(a, "unknown option (see mcloud without arguments)");
        } else if (target) {
            return bad_flag(a, "one SERVICE or INSTANCE only");
        } else {
            target = a;
        }
    }
    if (!target) {
        mc_cli_logs_usage();
        return 2;
    }
    if (engine) {
        if (!engine_only_ok) return bad_flag("--engine", "only --tail goes with it");
        return mc_cli_ops(argc, argv);
    }
    r.q.target = target;
    r.follow = follow;
    mc_config *cfg = mc_config_load(NULL, NULL);
    if (!cfg) return 1;
    const char *topic = mc_config_get(cfg, "logs.topic");
    mc_kafka_config kc = {.bootstrap_servers = mc_config_get(cfg, "kafka"), .client_id = "mcloud-logs"};
    int rc = mc_kafka_scan(&kc, topic, r.q.since_ms, follow, CATCH_UP_TIMEOUT_MS, on_message, &r, &err);
    if (rc < 0)
        fprintf(stderr, "mcloud logs: reading topic %s at %s: %s (is Kafka up? MCLOUD_KAFKA; a topic no agent wrote "
                        "yet does not exist; `mcloud logs %s --engine` asks the engines)\n",
                topic, kc.bootstrap_servers, err.msg, target);
    else if (rc == 1 && !r.caught_up)
        fprintf(stderr, "mcloud logs: out of memory\n");
    for (size_t i = 0; i < r.n; i++) free(r.lines[i].value);
    free(r.lines);
    mc_config_free(cfg);
    return rc < 0 || (rc == 1 && !r.caught_up) ? 1 : 0;
}

int mc_cli_kafka(int argc, char **argv) {
    if (argc != 5 || strcmp(argv[2], "partitions") != 0) {
        mc_cli_logs_usage();
        return 2;
    }
    const char *topic = argv[3];
    char *end;
    long want = strtol(argv[4], &end, 10);
    if (!argv[4][0] || *end || want < 1 || want > 100000) {
        fprintf(stderr, "mcloud kafka partitions: N must be a number from 1 to 100000, got '%s'\n", argv[4]);
        return 2;
    }
    mc_config *cfg = mc_config_load(NULL, NULL);
    if (!cfg) return 1;
    mc_kafka_config kc = {.bootstrap_servers = mc_config_get(cfg, "kafka"), .client_id = "mcloud-cli"};
    mc_err err = {0};
    int rc = 1;
    int have = mc_kafka_partition_count(&kc, topic, 15000, &err);
    if (have < 0)
        fprintf(stderr, "mcloud kafka partitions: topic %s at %s: %s\n", topic, kc.bootstrap_servers, err.msg);
    else if (want <= have)
        fprintf(stderr,
                "mcloud kafka partitions: topic %s has %d partitions; %ld would not grow it (Kafka can only add "
                "partitions)\n",
                topic, have, want);
    else if (mc_kafka_create_partitions(&kc, topic, (int)want, 30000, &err) < 0)
        fprintf(stderr, "mcloud kafka partitions: growing %s from %d to %ld: %s\n", topic, have, want, err.msg);
    else {
        printf("topic %s: %d -> %ld partitions\n", topic, have, want);
        rc = 0;
    }
    mc_config_free(cfg);
    return rc;
}
