/* dbload.c — a steady write load for the failover tests. Threads insert
 * rows with distinct ids into table `acked` through the platform's own MySQL
 * client (common/mysql), which finds the master in the config service and
 * follows mysql.master changes (config_watch). Every insert the server
 * acknowledged is printed as "ack <id> <ms since start>" on stdout, so a
 * checker can prove each of them is on the master afterwards; failures go
 * to stderr. Runs until SIGTERM/SIGINT.
 * usage: mcloud-dbload THREADS   (settings: MCLOUD_* as for any daemon) */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/config_watch.h"
#include "common/daemon.h"
#include "common/http.h"
#include "common/mysql.h"
#include "common/redis.h"

static atomic_int stopping;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static double t0;

typedef struct writer {
    mc_db *db;
    int index, count;
} writer;

static void *write_loop(void *arg) {
    writer *w = arg;
    for (long long id = w->index + 1; !atomic_load(&stopping); id += w->count) {
        mc_err err = {0};
        if (mc_db_exec(w->db, MC_DB_MASTER, "INSERT INTO acked (id) VALUES (?)", MC_DB_ARGS(mc_db_i64(id)),
                       NULL, &err) == 0) {
            pthread_mutex_lock(&out_lock);
            printf("ack %lld %.0f\n", id, (mc_monotonic_seconds() - t0) * 1000);
            fflush(stdout);
            pthread_mutex_unlock(&out_lock);
        } else {
            fprintf(stderr, "fail %lld %.0f %s\n", id, (mc_monotonic_seconds() - t0) * 1000, err.msg);
            usleep(50000);
        }
    }
    return NULL;
}

static void follow(const char *name, void *ctx) {
    void **c = ctx;
    mc_err err = {0};
    if (mc_db_apply_setting(c[0], c[1], name, &err) < 0) fprintf(stderr, "apply %s: %s\n", name, err.msg);
    else fprintf(stderr, "setting %s -> %s\n", name, mc_config_get(c[1], name));
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    if (threads < 1 || threads > 32) {
        fprintf(stderr, "usage: mcloud-dbload THREADS (1..32)\n");
        return 2;
    }
    mc_daemon_block_signals();
    t0 = mc_monotonic_seconds();
    mc_config *boot = mc_config_load(NULL, NULL);
    mc_redis_options ro = {.addr = mc_config_get(boot, "redis"), .password = mc_config_get(boot, "redis.password"),
                           .client_name = "dbload"};
    mc_err err = {0};
    mc_redis *r = mc_redis_connect(&ro, &err);
    if (!r) {
        fprintf(stderr, "redis: %s\n", err.msg);
        return 1;
    }
    mc_config *cfg = mc_config_load(mc_config_redis_lookup, r);
    mc_db_config dc;
    mc_db *db = NULL;
    if (mc_db_config_from(cfg, &dc, &err) < 0 || !(db = mc_db_open(&dc, &err))) {
        fprintf(stderr, "mysql: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "writing to %s (%s)\n", mc_config_get(cfg, "mysql.master"),
            mc_config_origin_name(mc_config_origin_of(cfg, "mysql.master")));
    void *ctx[2] = {db, cfg};
    mc_config_watch *watch = mc_config_watch_start(cfg, &ro, follow, ctx, &err);
    if (!watch) {
        fprintf(stderr, "config watch: %s\n", err.msg);
        return 1;
    }
    pthread_t tid[32];
    writer w[32];
    for (int i = 0; i < threads; i++) {
        w[i] = (writer){.db = db, .index = i, .count = threads};
        pthread_create(&tid[i], NULL, write_loop, &w[i]);
    }
    mc_daemon_wait_for_stop();
    atomic_store(&stopping, 1);
    for (int i = 0; i < threads; i++) pthread_join(tid[i], NULL);
    mc_config_watch_stop(watch);
    mc_db_close(db);
    mc_config_free(cfg);
    mc_config_free(boot);
    mc_redis_close(r);
    return 0;
}
