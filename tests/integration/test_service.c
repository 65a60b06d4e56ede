/* The shared daemon life cycle against the real Redis and MariaDB: a service
 * starts, applies migrations, answers /healthz and /readyz, appears in the
 * service registry, and on SIGTERM deregisters and stops. */
#include "itest.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>

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

int main(void) {
    mc_daemon_block_signals();
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_life_cycle),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
