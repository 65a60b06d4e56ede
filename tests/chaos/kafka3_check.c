/* kafka3_check.c — the three-broker fault of the fault suite (issue 13 §3),
 * the producing and checking side; tests/chaos/kafka3.sh runs the cluster.
 *
 * On a KRaft cluster of three brokers (replication factor 3,
 * min.insync.replicas=2), produces COUNT keyed messages one at a time with
 * mcloud's own producer (common/kafka: idempotent, acks=all, synchronous),
 * SIGKILLs the broker leading partition 0 once KILL_AFTER were
 * acknowledged, goes on producing on the two left, then reads the topic
 * back with mcloud's consumer and checks: every acknowledged message is
 * there exactly once, and messages were acknowledged after the kill (two
 * in-sync replicas are enough). Prints the gap between the kill and the
 * next acknowledgement (a figure, never asserted) with the load average.
 *
 * usage: mcloud-kafka3-check BOOTSTRAP TOPIC COUNT KILL_AFTER ID=PID,ID=PID,ID=PID */
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/kafka.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void loadavg(char *out, size_t len) {
    double l[3] = {0, 0, 0};
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf %lf %lf", &l[0], &l[1], &l[2]) != 3) l[0] = l[1] = l[2] = 0;
        fclose(f);
    }
    snprintf(out, len, "%.2f %.2f %.2f", l[0], l[1], l[2]);
}

/* The broker id leading partition 0 of topic, or -1. */
static int leader_of_partition0(const char *bootstrap, const char *topic) {
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) return -1;
    int leader = -1;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (t && rd_kafka_metadata(rk, 0, t, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < md->topic_cnt; i++)
            for (int p = 0; p < md->topics[i].partition_cnt; p++)
                if (md->topics[i].partitions[p].id == 0) leader = md->topics[i].partitions[p].leader;
        rd_kafka_metadata_destroy(md);
    }
    if (t) rd_kafka_topic_destroy(t);
    rd_kafka_destroy(rk);
    return leader;
}

typedef struct seen {
    int count;
    unsigned char *times;   /* per key, how often it was read */
} seen;

static int on_message(const mc_kafka_message *m, void *ctx) {
    seen *s = ctx;
    char key[32];
    size_t n = m->keylen < sizeof key - 1 ? m->keylen : sizeof key - 1;
    memcpy(key, m->key ? m->key : "", n);
    key[n] = '\0';
    int i;
    if (sscanf(key, "k%d", &i) == 1 && i >= 0 && i < s->count && s->times[i] < 255) s->times[i]++;
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: mcloud-kafka3-check BOOTSTRAP TOPIC COUNT KILL_AFTER ID=PID,ID=PID,ID=PID\n");
        return 2;
    }
    const char *bootstrap = argv[1], *topic = argv[2];
    int count = atoi(argv[3]), kill_after = atoi(argv[4]);
    if (count <= 0 || kill_after <= 0 || kill_after >= count) {
        fprintf(stderr, "FAIL - COUNT and KILL_AFTER must be > 0, KILL_AFTER < COUNT\n");
        return 2;
    }
    mc_kafka_config cfg = {.bootstrap_servers = bootstrap, .client_id = "kafka3-check"};
    mc_err err = {0};
    if (mc_kafka_create_topic(&cfg, topic, 3, 3, 60000, &err) < 0) {
        printf("FAIL - create topic %s (3 partitions, RF 3): %s\n", topic, err.msg);
        return 1;
    }
    mc_kafka_producer *p = mc_kafka_producer_new(&cfg, &err);
    if (!p) {
        printf("FAIL - producer: %s\n", err.msg);
        return 1;
    }
    unsigned char *acked = calloc((size_t)count, 1);
    seen s = {.count = count, .times = calloc((size_t)count, 1)};
    int nacked = 0, acked_after_kill = 0, failed = 0, victim = -1;
    double t_kill = 0, first_after = 0, last_ack = now_s(), max_gap = 0;
    char load[64];
    for (int i = 0; i < count; i++) {
        if (nacked == kill_after && victim < 0) {
            victim = leader_of_partition0(bootstrap, topic);
            char want[16];
            snprintf(want, sizeof want, "%d=", victim);
            const char *at = victim > 0 ? strstr(argv[5], want) : NULL;
            if (!at || (at != argv[5] && at[-1] != ',')) {
                printf("FAIL - the leader of partition 0 (broker %d) is not among %s\n", victim, argv[5]);
                return 1;
            }
            int pid = atoi(at + strlen(want));
            loadavg(load, sizeof load);
            printf("# SIGKILL broker %d (pid %d, leader of partition 0) after %d acknowledged; load average %s\n",
                   victim, pid, nacked, load);
            fflush(stdout);
            t_kill = now_s();
            if (kill(pid, SIGKILL) < 0) {
                printf("FAIL - kill %d\n", pid);
                return 1;
            }
        }
        char key[32], value[64];
        snprintf(key, sizeof key, "k%d", i);
        snprintf(value, sizeof value, "value of message %d", i);
        if (mc_kafka_produce_sync(p, topic, key, strlen(key), value, strlen(value), NULL, 0, 30000, NULL, &err) < 0) {
            failed++;
            continue;
        }
        double t = now_s();
        if (t - last_ack > max_gap) max_gap = t - last_ack;
        last_ack = t;
        acked[i] = 1;
        nacked++;
        if (t_kill > 0) {
            if (!acked_after_kill) first_after = t;
            acked_after_kill++;
        }
    }
    mc_kafka_producer_free(p, 10000);

    char group[64];
    snprintf(group, sizeof group, "kafka3-check-%d", (int)getpid());
    const char *topics[] = {topic, NULL};
    mc_kafka_consumer *c = mc_kafka_consumer_new(&cfg, group, topics, &err);
    if (!c) {
        printf("FAIL - consumer: %s\n", err.msg);
        return 1;
    }
    int missing = nacked;
    for (double until = now_s() + 120; missing > 0 && now_s() < until;) {
        mc_err perr = {0};
        mc_kafka_consumer_poll(c, on_message, &s, 500, &perr);
        missing = 0;
        for (int i = 0; i < count; i++) missing += acked[i] && s.times[i] == 0;
    }
    mc_kafka_consumer_close(c);
    int dups = 0;
    for (int i = 0; i < count; i++) dups += s.times[i] > 1;

    int failures = 0;
    loadavg(load, sizeof load);
    printf("# %d produced, %d acknowledged (%d after the kill), %d not acknowledged; load average %s\n", count,
           nacked, acked_after_kill, failed, load);
    printf("# recovery: first acknowledgement %.0f ms after the SIGKILL; longest gap between two %.0f ms\n",
           acked_after_kill ? (first_after - t_kill) * 1000 : -1.0, max_gap * 1000);
#define CHECK(cond, ...) do { printf((cond) ? "ok   - " : "FAIL - "); printf(__VA_ARGS__); printf("\n"); failures += !(cond); } while (0)
    CHECK(victim > 0, "a broker leading a partition was killed (broker %d)", victim);
    CHECK(acked_after_kill > 0, "writes acknowledged on the two brokers left (%d)", acked_after_kill);
    CHECK(missing == 0, "every acknowledged message read back (%d missing of %d)", missing, nacked);
    CHECK(dups == 0, "no message read twice (%d duplicates; idempotent producer)", dups);
    free(acked);
    free(s.times);
    return failures ? 1 : 0;
}
