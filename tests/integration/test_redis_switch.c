/* Integration test of common/redis's +switch-master watcher against the
 * stack's real Redis master, replica and Sentinels: a handle reaching Redis
 * through Sentinel hears a Sentinel failover (SENTINEL FAILOVER, the
 * graceful one) and its next command runs on the new master, with no
 * restart and no setting changed; the original master is put back the same
 * way. A failover is stack-wide: ctest runs this test alone (RUN_SERIAL). */
#include "itest.h"

#include <time.h>

#include "common/redis.h"

#define NAME "mcloud"

static void sleep_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The first Sentinel of MCLOUD_REDIS_SENTINEL (sentinel://NAME@H:P,...). */
static redisContext *sentinel(void) {
    const char *spec = itest_env("MCLOUD_REDIS_SENTINEL");
    const char *at = strchr(spec, '@');
    assert_non_null(at);
    char host[256];
    snprintf(host, sizeof host, "%s", at + 1);
    host[strcspn(host, ",")] = '\0';
    char *colon = strrchr(host, ':');
    assert_non_null(colon);
    *colon = '\0';
    struct timeval tv = {.tv_sec = 2};
    redisContext *c = redisConnectWithTimeout(host, atoi(colon + 1), tv);
    if (!c || c->err) fail_msg("sentinel %s:%s: %s", host, colon + 1, c ? c->errstr : "out of memory");
    return c;
}

/* "host:port" of the master the Sentinel names. */
static void named_master(redisContext *s, char *out, size_t len) {
    redisReply *r = redisCommand(s, "SENTINEL get-master-addr-by-name " NAME);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 2);
    snprintf(out, len, "%s:%s", r->element[0]->str, r->element[1]->str);
    freeReplyObject(r);
}

/* The port of the server the handle's connection reaches (INFO server). */
static int connected_port(mc_redis *h) {
    mc_err err = {0};
    redisReply *r = mc_redis_command_once(h, &err, "INFO server");
    if (!r) fail_msg("INFO through the handle: %s", err.msg);
    const char *p = strstr(r->str, "tcp_port:");
    int port = p ? atoi(p + 9) : -1;
    freeReplyObject(r);
    return port;
}

/* SENTINEL FAILOVER, then waits until the handle heard switch number want
 * and the Sentinel names another master than before; retried while a
 * previous failover still settles ("INPROG", no good replica yet). */
static void fail_over(redisContext *s, mc_redis *h, unsigned want, const char *before) {
    char now[300] = "";
    for (int i = 0; i < 600; i++) {
        named_master(s, now, sizeof now);
        if (mc_redis_switches_seen(h) >= want && strcmp(now, before) != 0) return;
        if (i % 50 == 0 && strcmp(now, before) == 0) {
            redisReply *r = redisCommand(s, "SENTINEL FAILOVER " NAME);
            assert_non_null(r);
            freeReplyObject(r);
        }
        sleep_ms(100);
    }
    fail_msg("no +switch-master heard by the handle within 60 s (heard %u, wanted %u; Sentinel names %s)",
             mc_redis_switches_seen(h), want, now);
}

static void next_command_goes_to_the_master_sentinel_announced(void **state) {
    (void)state;
    mc_redis_options o = {.addr = itest_env("MCLOUD_REDIS_SENTINEL"), .client_name = "test-redis-switch"};
    mc_err err = {0};
    mc_redis *h = mc_redis_connect(&o, &err);
    if (!h) fail_msg("connect %s: %s", o.addr, err.msg);
    redisContext *s = sentinel();
    char original[300], promoted[300];
    named_master(s, original, sizeof original);
    assert_int_equal(connected_port(h), atoi(strrchr(original, ':') + 1));
    assert_int_equal(mc_redis_switches_seen(h), 0);

    fail_over(s, h, 1, original);
    named_master(s, promoted, sizeof promoted);
    /* the first command after the announcement: on the new master, and a
     * write (a demoted master would answer READONLY) */
    redisReply *r = mc_redis_command_once(h, &err, "INCR mcloud:test:switch");
    if (!r) fail_msg("INCR after the switch: %s", err.msg);
    freeReplyObject(r);
    assert_int_equal(connected_port(h), atoi(strrchr(promoted, ':') + 1));

    /* back to the original master, heard the same way */
    fail_over(s, h, 2, promoted);
    r = mc_redis_command_once(h, &err, "DEL mcloud:test:switch");
    if (!r) fail_msg("DEL after the switch back: %s", err.msg);
    freeReplyObject(r);
    assert_int_equal(connected_port(h), atoi(strrchr(original, ':') + 1));
    redisFree(s);
    mc_redis_close(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(next_command_goes_to_the_master_sentinel_announced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
