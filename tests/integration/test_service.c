/* The shared daemon life cycle against the real Redis and MariaDB: a service
 * starts, applies migrations, answers /healthz and /readyz, appears in the
 * service registry, and on SIGTERM deregisters and stops. And the start's
 * wait for a Redis that does not answer yet (start_wait_ms, the platform
 * daemons'): a real redis-server started late is waited for; one that never
 * comes ends the start with a message naming the wait; without the option
 * the start fails at once. */
#include "itest.h"

#include <curl/curl.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "common/daemon.h"
#include "common/registry.h"
#include "common/service.h"

static mc_service svc;
static int serve_rc = -2;

static void *serve(void *arg) {
    (void)arg;
    mc_err err = {0};
    serve_rc = mc_service_serve(&svc, &err);
    if (serve_rc < 0) fprintf(stderr, "serve: %s\n", err.msg);
    return NULL;
}

/* The registry entries of this test's service, by a fresh Redis handle. */
static size_t registered(char *address, size_t len) {
    mc_redis_options o = {.addr = itest_env("MCLOUD_REDIS")};
    mc_err err = {0};
    mc_redis *r = mc_redis_connect(&o, &err);
    if (!r) fail_msg("redis: %s", err.msg);
    mc_service_instance *list = NULL;
    size_t n = 0;
    if (mc_registry_list(r, "itest-service", &list, &n, &err) < 0) fail_msg("list: %s", err.msg);
    size_t mine = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i].instance, svc.instance) != 0) continue;
        mine++;
        snprintf(address, len, "%s", list[i].address);
    }
    free(list);
    mc_redis_close(r);
    return mine;
}

static long http_get(const char *url) {
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fwrite);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, stderr);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

static void test_service_life_cycle(void **state) {
    (void)state;
    itest_env("MCLOUD_REDIS");
    itest_env("MCLOUD_MYSQL_MASTER");
    setenv("MCLOUD_API_PORT", "0", 1); /* an ephemeral port */
    mc_service_options opt = {.name = "itest-service", .port_setting = "api.port", .use_db = true,
                              .stop_grace_ms = 2000};
    mc_err err = {0};
    if (mc_service_init(&svc, &opt, &err) < 0) fail_msg("init: %s", err.msg);
    assert_non_null(svc.db);

    pthread_t t;
    pthread_create(&t, NULL, serve, NULL);
    char address[MC_REGISTRY_ADDRESS_MAX + 1] = "";
    for (int i = 0; i < 100 && registered(address, sizeof address) == 0; i++) usleep(50 * 1000);
    assert_int_equal(registered(address, sizeof address), 1);
    assert_true(strncmp(address, "http://127.0.0.1:", 17) == 0);

    char url[MC_REGISTRY_ADDRESS_MAX + 32];
    snprintf(url, sizeof url, "%s/healthz", address);
    assert_int_equal(http_get(url), 200);
    snprintf(url, sizeof url, "%s/readyz", address);
    assert_int_equal(http_get(url), 200);

    kill(getpid(), SIGTERM);
    pthread_join(t, NULL);
    assert_int_equal(serve_rc, 0);
    assert_int_equal(registered(address, sizeof address), 0);
    snprintf(url, sizeof url, "%s/healthz", address);
    assert_int_equal(http_get(url), 0); /* nothing listens any more */
    mc_service_free(&svc);
}

/* ---- the start's wait for Redis --------------------------------------------- */
static pid_t late_redis = -1;
static char saved_redis[512];

/* A port nothing listens on now (the kernel's pick, then closed). */
static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        fail_msg("free port: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

static void point_at(int port) {
    snprintf(saved_redis, sizeof saved_redis, "%s", itest_env("MCLOUD_REDIS"));
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    setenv("MCLOUD_REDIS", addr, 1);
    setenv("MCLOUD_API_PORT", "0", 1);
}

/* Stops what the test started (also after a failed assertion). */
static int wait_teardown(void **state) {
    (void)state;
    if (late_redis > 0) {
        kill(late_redis, SIGTERM);
        waitpid(late_redis, NULL, 0);
        late_redis = -1;
    }
    if (saved_redis[0]) setenv("MCLOUD_REDIS", saved_redis, 1);
    mc_service_free(&svc);
    return 0;
}

static void test_start_waits_for_redis(void **state) {
    (void)state;
    if (system("command -v redis-server >/dev/null 2>&1") != 0)
        fail_msg("redis-server is not on PATH: install it with scripts/bootstrap.sh apt (Debian's redis-server)");
    int port = free_port();
    point_at(port);
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    late_redis = fork();
    if (late_redis == 0) { /* Redis comes up only after the service began to wait */
        sigset_t none; /* main() blocked SIGTERM for the service: the server must get it */
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        sleep(2);
        execlp("redis-server", "redis-server", "--port", ports, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", "/tmp", (char *)NULL);
        _exit(127);
    }
    assert_true(late_redis > 0);
    mc_service_options opt = {.name = "itest-service-wait", .port_setting = "api.port",
                              .start_wait_ms = 60000};
    mc_err err = {0};
    if (mc_service_init(&svc, &opt, &err) < 0) fail_msg("init despite start_wait_ms: %s", err.msg);
    redisReply *pong = mc_redis_command(svc.redis, &err, "PING");
    if (!pong) fail_msg("ping: %s", err.msg);
    assert_string_equal(pong->str, "PONG");
    freeReplyObject(pong);
    int status = 0;
    assert_int_equal(waitpid(late_redis, &status, WNOHANG), 0); /* the late server is the one answering */
}

static void test_start_wait_ends(void **state) {
    (void)state;
    point_at(free_port());
    mc_service_options opt = {.name = "itest-service-wait", .port_setting = "api.port",
                              .start_wait_ms = 1500};
    mc_err err = {0};
    assert_int_equal(mc_service_init(&svc, &opt, &err), -1);
    fprintf(stderr, "expected failure: %s\n", err.msg);
    assert_int_equal(err.kind, MC_ERR_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "not answering at start after"));
    assert_non_null(strstr(err.msg, getenv("MCLOUD_REDIS")));
}

static void test_no_wait_fails_at_once(void **state) {
    (void)state;
    point_at(free_port());
    mc_service_options opt = {.name = "itest-service-wait", .port_setting = "api.port"};
    mc_err err = {0};
    assert_int_equal(mc_service_init(&svc, &opt, &err), -1);
    assert_int_equal(err.kind, MC_ERR_UNAVAILABLE);
    assert_null(strstr(err.msg, "not answering at start"));
    assert_non_null(strstr(err.msg, getenv("MCLOUD_REDIS")));
}

int main(void) {
    mc_daemon_block_signals();
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_life_cycle),
        cmocka_unit_test_teardown(test_start_waits_for_redis, wait_teardown),
        cmocka_unit_test_teardown(test_start_wait_ends, wait_teardown),
        cmocka_unit_test_teardown(test_no_wait_fails_at_once, wait_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
