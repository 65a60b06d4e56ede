/* Integration tests of the Redis clients against the real Redis: service
 * registry TTLs, config change notification (also across a killed
 * connection), fencing-token locks, and reconnecting after the server
 * closed our connection. */
#include "itest.h"

#include <pthread.h>

#include "common/lock.h"
#include "common/redis.h"
#include "common/redis_config.h"
#include "common/registry.h"

static mc_redis_options options(const char *client_name) {
    mc_redis_options o = {.addr = itest_env("MCLOUD_REDIS"), .client_name = client_name};
    return o;
}

static mc_redis *connect_or_fail(const char *client_name) {
    mc_redis_options o = options(client_name);
    mc_err err = {0};
    mc_redis *r = mc_redis_connect(&o, &err);
    if (!r) fail_msg("connect %s: %s", o.addr, err.msg);
    return r;
}

static void sleep_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long long integer_command(mc_redis *r, const char *fmt, const char *arg) {
    mc_err err = {0};
    redisReply *reply = mc_redis_command(r, &err, fmt, arg);
    if (!reply) fail_msg("%s: %s", fmt, err.msg);
    assert_int_equal(reply->type, REDIS_REPLY_INTEGER);
    long long v = reply->integer;
    freeReplyObject(reply);
    return v;
}

static void del_key(mc_redis *r, const char *key) { integer_command(r, "DEL %s", key); }

/* ---- SCAN and MGET ---- */

#define SCAN_KEYS 1200 /* more than one page (COUNT 500) */

typedef struct scanned {
    mc_redis *r;
    unsigned char seen[SCAN_KEYS];
    int pages;
} scanned;

static int note_page(void *ctx, const redisReply *keys, mc_err *err) {
    scanned *s = ctx;
    s->pages++;
    redisReply *values = mc_redis_mget(s->r, keys, err);
    if (!values) return -1;
    for (size_t i = 0; i < keys->elements; i++) {
        int k = atoi(strrchr(keys->element[i]->str, ':') + 1);
        assert_true(k >= 0 && k < SCAN_KEYS);
        assert_int_equal(values->element[i]->type, REDIS_REPLY_STRING);
        assert_int_equal(atoi(values->element[i]->str), k * 7); /* the value of this key, in order */
        s->seen[k] = 1;
    }
    freeReplyObject(values);
    return 0;
}

static int stop_at_once(void *ctx, const redisReply *keys, mc_err *err) {
    (void)keys;
    (*(int *)ctx)++;
    return mc_err_set(err, MC_ERR_CONFLICT, "stopped by the page");
}

static void scan_visits_every_key_and_mget_reads_them(void **state) {
    (void)state;
    mc_redis *r = connect_or_fail(NULL);
    static scanned s;
    memset(&s, 0, sizeof s);
    s.r = r;
    char key[64], value[32];
    for (int k = 0; k < SCAN_KEYS; k++) {
        snprintf(key, sizeof key, "test:scan:%d", k);
        snprintf(value, sizeof value, "%d", k * 7);
        redisReply *reply = mc_redis_command(r, NULL, "SET %s %s EX 60", key, value);
        assert_non_null(reply);
        freeReplyObject(reply);
    }
    mc_err err = {0};
    if (mc_redis_scan(r, "test:scan:*", note_page, &s, &err) < 0) fail_msg("scan: %s", err.msg);
    for (int k = 0; k < SCAN_KEYS; k++)
        if (!s.seen[k]) fail_msg("SCAN missed test:scan:%d", k);
    assert_true(s.pages > 1);
    int calls = 0;
    assert_int_equal(mc_redis_scan(r, "test:scan:*", stop_at_once, &calls, &err), -1);
    assert_int_equal(calls, 1);
    assert_int_equal(err.kind, MC_ERR_CONFLICT);
    for (int k = 0; k < SCAN_KEYS; k++) {
        snprintf(key, sizeof key, "test:scan:%d", k);
        del_key(r, key);
    }
    mc_redis_close(r);
}

/* ---- pipelining ---- */

static void batch_answers_every_command_in_order(void **state) {
    (void)state;
    mc_redis *r = connect_or_fail(NULL);
    del_key(r, "test:batch:n");
    del_key(r, "test:batch:h");
    mc_redis_batch b = {0};
    assert_int_equal(mc_redis_batch_add(&b, "INCRBY %s %d", "test:batch:n", 5), 0);
    assert_int_equal(mc_redis_batch_add(&b, "HINCRBY %s %s %d", "test:batch:n", "f", 1), 0); /* WRONGTYPE */
    assert_int_equal(mc_redis_batch_add(&b, "HSET %s %s %s", "test:batch:h", "a", "x"), 0);
    assert_int_equal(mc_redis_batch_add(&b, "GET %s", "test:batch:n"), 0);
    mc_err err = {0};
    if (mc_redis_batch_run(r, &b, 0, &err) < 0) fail_msg("batch: %s", err.msg);
    assert_int_equal(b.got, 4);
    const redisReply *v = mc_redis_batch_reply(r, &b, 0, &err);
    assert_non_null(v);
    assert_int_equal(v->integer, 5);
    assert_null(mc_redis_batch_reply(r, &b, 1, &err)); /* an error reply fails that command only */
    assert_int_equal(err.kind, MC_ERR_REMOTE);
    assert_string_equal(err.code, "WRONGTYPE");
    assert_non_null(mc_redis_batch_reply(r, &b, 2, &err));
    v = mc_redis_batch_reply(r, &b, 3, &err);
    assert_non_null(v);
    assert_string_equal(v->str, "5");
    assert_null(mc_redis_batch_reply(r, &b, 4, &err)); /* past the last */
    mc_redis_batch_free(&b);
    del_key(r, "test:batch:n");
    del_key(r, "test:batch:h");
    mc_redis_close(r);
}

/* ---- registry ---- */

static int listed(mc_redis *r, const char *service, const char *instance, const char *address) {
    mc_service_instance *list = NULL;
    size_t n = 0;
    mc_err err = {0};
    if (mc_registry_list(r, service, &list, &n, &err) < 0) fail_msg("list: %s", err.msg);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i].instance, instance) != 0) continue;
        if (address) assert_string_equal(list[i].address, address);
        found = 1;
    }
    free(list);
    return found;
}

static void registry_entry_lives_while_heartbeating_and_expires_after(void **state) {
    (void)state;
    mc_redis *r = connect_or_fail(NULL);
    char service[96], other_service[128];
    itest_unique(service, sizeof service, "itest-svc");
    snprintf(other_service, sizeof other_service, "%s-other", service);
    mc_err err = {0};
    const int ttl_ms = 1500;

    mc_registration *alive = mc_registry_register(r, service, "worker-1", "http://10.0.0.1:8080", ttl_ms, &err);
    assert_non_null(alive);
    mc_registration *leaving = mc_registry_register(r, service, "worker-2", "{\"http\":\"10.0.0.2:8080\"}",
                                                    ttl_ms, &err);
    assert_non_null(leaving);
    mc_registration *elsewhere = mc_registry_register(r, other_service, "worker-1", "x", ttl_ms, &err);
    assert_non_null(elsewhere);
    assert_true(listed(r, service, "worker-1", "http://10.0.0.1:8080"));
    assert_true(listed(r, service, "worker-2", "{\"http\":\"10.0.0.2:8080\"}"));

    /* deregistering removes the entry at once; a similarly named service is
     * not mistaken for ours */
    assert_int_equal(mc_registry_deregister(leaving, &err), 0);
    assert_false(listed(r, service, "worker-2", NULL));
    mc_service_instance *list = NULL;
    size_t n = 0;
    assert_int_equal(mc_registry_list(r, service, &list, &n, &err), 0);
    assert_int_equal(n, 1);
    free(list);
    assert_int_equal(mc_registry_deregister(elsewhere, &err), 0);

    /* the heartbeat thread keeps it past several TTLs */
    assert_int_equal(mc_registry_start_heartbeat(alive, &err), 0);
    sleep_ms(3 * ttl_ms);
    assert_true(listed(r, service, "worker-1", NULL));

    /* without heartbeats (a crashed instance) it disappears by itself */
    mc_registry_stop_heartbeat(alive);
    int gone = 0;
    for (int i = 0; i < 100 && !gone; i++) {
        gone = !listed(r, service, "worker-1", NULL);
        if (!gone) sleep_ms(200);
    }
    assert_true(gone);

    /* an explicit heartbeat brings an expired entry back */
    assert_int_equal(mc_registry_heartbeat(alive, &err), 0);
    assert_true(listed(r, service, "worker-1", "http://10.0.0.1:8080"));
    assert_int_equal(mc_registry_deregister(alive, &err), 0);
    assert_false(listed(r, service, "worker-1", NULL));

    assert_null(mc_registry_register(r, "bad:service", "i", "x", ttl_ms, &err));
    assert_int_equal(err.kind, MC_ERR_INVALID);
    mc_redis_close(r);
}

/* ---- config ---- */

typedef struct changes {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    const char *watched;   /* other tests may publish changes of their own */
    char last_value[128];
    int seen;              /* changes of `watched` */
    int resyncs;           /* name == NULL callbacks */
} changes;

static void on_change(const char *name, const char *value, void *ctx) {
    changes *c = ctx;
    pthread_mutex_lock(&c->lock);
    if (!name) {
        c->resyncs++;
    } else if (!strcmp(name, c->watched)) {
        snprintf(c->last_value, sizeof c->last_value, "%s", value ? value : "(null)");
        c->seen++;
    }
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

/* Waits (up to 15 s) until *counter exceeds `above`. */
static int wait_above(changes *c, int *counter, int above) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 15;
    pthread_mutex_lock(&c->lock);
    while (*counter <= above && pthread_cond_timedwait(&c->cond, &c->lock, &until) == 0) {}
    int reached = *counter > above;
    pthread_mutex_unlock(&c->lock);
    return reached;
}

/* Kills every connection named `name` from another connection; returns how many. */
static int kill_clients_named(mc_redis *admin, const char *name) {
    mc_err err = {0};
    redisReply *reply = mc_redis_command(admin, &err, "CLIENT LIST");
    if (!reply) fail_msg("CLIENT LIST: %s", err.msg);
    char needle[160];
    snprintf(needle, sizeof needle, " name=%s ", name);
    int killed = 0;
    for (char *line = reply->str; line && *line;) {
        char *end = strchr(line, '\n');
        if (end) *end = '\0';
        if (strstr(line, needle)) {
            char id[32];
            if (sscanf(line, "id=%31s", id) == 1) killed += (int)integer_command(admin, "CLIENT KILL ID %s", id);
        }
        line = end ? end + 1 : NULL;
    }
    freeReplyObject(reply);
    return killed;
}

static void config_change_reaches_subscriber_even_after_its_connection_dies(void **state) {
    (void)state;
    char name[96], client[96], key[160];
    itest_unique(name, sizeof name, "itest-cfg");
    itest_unique(client, sizeof client, "itest-sub");
    snprintf(key, sizeof key, "mcloud:config:%s", name);
    changes c = {.watched = name};
    pthread_mutex_init(&c.lock, NULL);
    pthread_cond_init(&c.cond, NULL);
    mc_redis *r = connect_or_fail(NULL);
    mc_err err = {0};

    assert_int_equal(mc_redis_config_get(r, name, &(char *){NULL}, &err), -1);
    assert_int_equal(err.kind, MC_ERR_NOT_FOUND);

    mc_redis_options o = options(client);
    mc_config_subscriber *sub = mc_config_subscribe(&o, on_change, &c, &err);
    assert_non_null(sub);

    assert_int_equal(mc_redis_config_set(r, name, "first value", &err), 0);
    assert_true(wait_above(&c, &c.seen, 0));
    assert_string_equal(c.last_value, "first value");
    char *value = NULL;
    assert_int_equal(mc_redis_config_get(r, name, &value, &err), 0);
    assert_string_equal(value, "first value");
    free(value);

    /* the subscriber's connections die (as in a Redis restart): it
     * resubscribes, says so, and hears the next change */
    assert_true(kill_clients_named(r, client) >= 1);
    assert_true(wait_above(&c, &c.resyncs, 0));
    assert_int_equal(mc_redis_config_set(r, name, "second value", &err), 0);
    assert_true(wait_above(&c, &c.seen, 1));
    assert_string_equal(c.last_value, "second value");

    mc_config_subscriber_stop(sub);
    del_key(r, key);
    mc_redis_close(r);
    pthread_cond_destroy(&c.cond);
    pthread_mutex_destroy(&c.lock);
}

/* ---- locks ---- */

static void lock_keys(const char *name, char *key, char *fence, size_t len) {
    snprintf(key, len, "mcloud:lock:%s", name);
    snprintf(fence, len, "mcloud:lock:%s:fence", name);
}

static void lock_excludes_and_fences(void **state) {
    (void)state;
    mc_redis *r = connect_or_fail(NULL);
    char name[96], key[160], fence[160];
    itest_unique(name, sizeof name, "itest-lock");
    lock_keys(name, key, fence, sizeof key);
    mc_err err = {0};

    mc_lock first;
    assert_int_equal(mc_lock_acquire(r, name, 10000, &first, &err), 0);
    assert_true(first.token >= 1);
    assert_int_equal(mc_lock_validate(r, name, first.token, &err), 0);

    mc_lock second;
    assert_int_equal(mc_lock_acquire(r, name, 10000, &second, &err), -1);
    assert_int_equal(err.kind, MC_ERR_CONFLICT);

    /* someone who does not hold it can neither release nor extend it */
    mc_lock impostor = first;
    memcpy(impostor.owner, "0123456789abcdef0123456789abcdef", sizeof impostor.owner);
    assert_int_equal(mc_lock_release(r, &impostor, &err), -1);
    assert_int_equal(err.kind, MC_ERR_CONFLICT);
    assert_int_equal(mc_lock_extend(r, &impostor, 60000, &err), -1);
    assert_int_equal(err.kind, MC_ERR_CONFLICT);
    assert_int_equal(mc_lock_validate(r, name, first.token, &err), 0);

    /* the holder can extend it */
    assert_int_equal(mc_lock_extend(r, &first, 60000, &err), 0);
    assert_true(integer_command(r, "PTTL %s", key) > 10000);

    assert_int_equal(mc_lock_release(r, &first, &err), 0);
    assert_int_equal(mc_lock_validate(r, name, first.token, &err), -1);
    assert_int_equal(err.kind, MC_ERR_CONFLICT);
    assert_int_equal(mc_lock_release(r, &first, &err), -1);

    /* the next holder gets a higher token */
    assert_int_equal(mc_lock_acquire(r, name, 300, &second, &err), 0);
    assert_true(second.token > first.token);

    /* once its TTL passes, the lock can be taken again, with a higher token,
     * and the expired holder can no longer touch it */
    mc_lock third;
    int taken = 0;
    for (int i = 0; i < 100 && !taken; i++) {
        taken = mc_lock_acquire(r, name, 10000, &third, &err) == 0;
        if (!taken) {
            assert_int_equal(err.kind, MC_ERR_CONFLICT);
            sleep_ms(100);
        }
    }
    assert_true(taken);
    assert_true(third.token > second.token);
    assert_int_equal(mc_lock_validate(r, name, second.token, &err), -1);
    assert_int_equal(err.kind, MC_ERR_CONFLICT);
    assert_int_equal(mc_lock_release(r, &second, &err), -1);
    assert_int_equal(mc_lock_extend(r, &second, 10000, &err), -1);
    assert_int_equal(mc_lock_validate(r, name, third.token, &err), 0);
    assert_int_equal(mc_lock_release(r, &third, &err), 0);

    assert_int_equal(mc_lock_acquire(r, "x:fence", 1000, &third, &err), -1);
    assert_int_equal(err.kind, MC_ERR_INVALID);
    del_key(r, key);
    del_key(r, fence);
    mc_redis_close(r);
}

/* A replica promoted by Sentinel may have missed the last increments of a
 * fence counter (replication is asynchronous): tokens must still go up. */
static void lock_token_never_goes_back_below_a_lagging_fence(void **state) {
    (void)state;
    mc_redis *r = connect_or_fail(NULL);
    char name[96], key[160], fence[160];
    itest_unique(name, sizeof name, "itest-lock-lag");
    lock_keys(name, key, fence, sizeof key);
    mc_err err = {0};
    mc_lock before, after;
    assert_int_equal(mc_lock_acquire(r, name, 10000, &before, &err), 0);
    assert_int_equal(mc_lock_release(r, &before, &err), 0);
    /* what the promoted replica holds: an older counter */
    redisReply *reply = mc_redis_command(r, &err, "SET %s 1", fence);
    assert_non_null(reply);
    freeReplyObject(reply);
    assert_int_equal(mc_lock_acquire(r, name, 10000, &after, &err), 0);
    assert_true(after.token > before.token);
    assert_int_equal(mc_lock_validate(r, name, after.token, &err), 0);
    assert_int_equal(mc_lock_release(r, &after, &err), 0);
    del_key(r, key);
    del_key(r, fence);
    mc_redis_close(r);
}

/* ---- reconnect ---- */

static long long client_id(mc_redis *r) {
    mc_err err = {0};
    redisReply *reply = mc_redis_command(r, &err, "CLIENT ID");
    if (!reply) fail_msg("CLIENT ID: %s", err.msg);
    long long id = reply->integer;
    freeReplyObject(reply);
    return id;
}

static void kill_client(mc_redis *admin, long long id) {
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", id);
    assert_int_equal(integer_command(admin, "CLIENT KILL ID %s", ids), 1);
}

static void commands_succeed_after_server_closes_the_connection(void **state) {
    (void)state;
    char key[96];
    itest_unique(key, sizeof key, "itest-reconnect");
    mc_redis *r = connect_or_fail(NULL);
    mc_redis *admin = connect_or_fail(NULL);
    mc_err err = {0};

    long long before = client_id(r);
    kill_client(admin, before);
    redisReply *reply = mc_redis_command(r, &err, "SET %s %s", key, "v");
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_STATUS);
    freeReplyObject(reply);
    long long after = client_id(r);
    assert_true(after != before);

    /* a command that must not be resent still goes through: the closed
     * connection is noticed before anything is sent on it */
    kill_client(admin, after);
    reply = mc_redis_command_once(r, &err, "INCR %s:n", key);
    assert_non_null(reply);
    assert_int_equal(reply->integer, 1);
    freeReplyObject(reply);
    assert_true(client_id(r) != after);

    char counter[128];
    snprintf(counter, sizeof counter, "%s:n", key);
    del_key(r, key);
    del_key(r, counter);
    mc_redis_close(admin);
    mc_redis_close(r);
}

static void unreachable_server_is_unavailable(void **state) {
    (void)state;
    mc_redis_options o = {.addr = "127.0.0.1:1", .connect_timeout_ms = 500};
    mc_err err = {0};
    assert_null(mc_redis_connect(&o, &err));
    assert_int_equal(err.kind, MC_ERR_UNAVAILABLE);
    o.addr = "no-port";
    assert_null(mc_redis_connect(&o, &err));
    assert_int_equal(err.kind, MC_ERR_INVALID);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scan_visits_every_key_and_mget_reads_them),
        cmocka_unit_test(batch_answers_every_command_in_order),
        cmocka_unit_test(registry_entry_lives_while_heartbeating_and_expires_after),
        cmocka_unit_test(config_change_reaches_subscriber_even_after_its_connection_dies),
        cmocka_unit_test(lock_excludes_and_fences),
        cmocka_unit_test(lock_token_never_goes_back_below_a_lagging_fence),
        cmocka_unit_test(commands_succeed_after_server_closes_the_connection),
        cmocka_unit_test(unreachable_server_is_unavailable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
