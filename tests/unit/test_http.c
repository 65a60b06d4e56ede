/* The HTTP server base over real loopback sockets, driven by libcurl:
 * built-in endpoints, routing errors, body collection, metrics, and a
 * graceful stop that lets a request in flight finish. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "common/http.h"
#include "common/json.h"

typedef struct response {
    long status;
    char body[65536];
    size_t len;
    char content_type[128];
} response;

static size_t collect(char *data, size_t size, size_t n, void *ctx) {
    response *r = ctx;
    size_t len = size * n;
    if (r->len + len >= sizeof r->body) len = sizeof r->body - r->len - 1;
    memcpy(r->body + r->len, data, len);
    r->len += len;
    r->body[r->len] = '\0';
    return size * n;
}

static void request(int port, const char *method, const char *path, const char *body,
                    response *out) {
    memset(out, 0, sizeof *out);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (ct) snprintf(out->content_type, sizeof out->content_type, "%s", ct);
    curl_easy_cleanup(c);
}

static int ready_flag;
static int ready_check(void *ctx, mc_err *err) {
    (void)ctx;
    if (ready_flag) return 0;
    return mc_err_set(err, MC_ERR_UNAVAILABLE, "kafka is not connected");
}

/* POST /echo: gathers a JSON body and answers with its "name" field. */
static enum MHD_Result handle_echo(mc_http_req *req, const char *data, size_t *size) {
    const char *body;
    size_t len;
    int rc = mc_http_collect_body(req, data, size, 1024, &body, &len);
    if (rc < 0) return mc_http_send_error(req, 413, "body larger than 1024 bytes");
    if (rc == 0) return MHD_YES;
    mc_err err = {0};
    json_t *doc = mc_json_parse_object(body, len, &err);
    if (!doc) return mc_http_send_error(req, 400, "%s", err.msg);
    const char *name;
    if (mc_json_get_string(doc, "name", true, NULL, &name, &err) < 0) {
        json_decref(doc);
        return mc_http_send_error(req, 400, "%s", err.msg);
    }
    json_t *answer = json_pack("{s:s}", "hello", name);
    json_decref(doc);
    return mc_http_send_json(req, 200, answer);
}

/* GET /slow: answers after a pause, to be caught in flight by a stop. */
static enum MHD_Result handle_slow(mc_http_req *req, const char *data, size_t *size) {
    (void)data;
    (void)size;
    usleep(400 * 1000);
    return mc_http_send(req, 200, "text/plain", "done", 4);
}

static mc_http_server *start_server(int threads) {
    mc_http_options opt = {.service = "test", .port = 0, .threads = threads,
                           .ready = ready_check};
    mc_http_server *srv = mc_http_new(&opt);
    assert_non_null(srv);
    mc_http_route(srv, "POST", "/echo", handle_echo, NULL);
    mc_http_route(srv, "GET", "/slow", handle_slow, NULL);
    mc_err err = {0};
    assert_int_equal(mc_http_start(srv, &err), 0);
    assert_true(mc_http_port(srv) > 0);
    return srv;
}

static void test_builtin_endpoints(void **state) {
    (void)state;
    mc_http_server *srv = start_server(0);
    int port = mc_http_port(srv);
    response r;
    request(port, "GET", "/healthz", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":\"ok\"}");
    assert_string_equal(r.content_type, "application/json");

    ready_flag = 0;
    request(port, "GET", "/readyz", NULL, &r);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "kafka is not connected"));
    ready_flag = 1;
    request(port, "GET", "/readyz", NULL, &r);
    assert_int_equal(r.status, 200);

    request(port, "GET", "/metrics", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(strstr(r.body, "mcloud_http_requests_total{service=\"test\",route=\"/healthz\","
                                   "method=\"GET\",code=\"200\"} 1"));
    assert_non_null(strstr(r.body, "mcloud_http_requests_total{service=\"test\",route=\"/readyz\","
                                   "method=\"GET\",code=\"503\"} 1"));
    mc_http_free(srv);
}

static void test_routing_errors_are_json(void **state) {
    (void)state;
    mc_http_server *srv = start_server(2);
    int port = mc_http_port(srv);
    response r;
    request(port, "GET", "/nope", NULL, &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body, "{\"error\":{\"status\":404,\"message\":\"no such resource: /nope\"}}");
    request(port, "DELETE", "/healthz", NULL, &r);
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.body, "method DELETE is not allowed on /healthz"));
    mc_http_free(srv);
}

static void test_body_collection(void **state) {
    (void)state;
    mc_http_server *srv = start_server(0);
    int port = mc_http_port(srv);
    response r;
    request(port, "POST", "/echo", "{\"name\":\"mcloud\"}", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"hello\":\"mcloud\"}");
    request(port, "POST", "/echo", "{\"name\":", &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "invalid JSON"));
    request(port, "POST", "/echo", "{\"other\":1}", &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "field 'name' is required"));
    char big[4096];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    request(port, "POST", "/echo", big, &r);
    assert_int_equal(r.status, 413);
    mc_http_free(srv);
}

typedef struct inflight {
    int port;
    response r;
} inflight;

static void *slow_request(void *arg) {
    inflight *f = arg;
    request(f->port, "GET", "/slow", NULL, &f->r);
    return NULL;
}

static void test_graceful_stop_finishes_requests_in_flight(void **state) {
    (void)state;
    mc_http_server *srv = start_server(0);
    inflight f = {.port = mc_http_port(srv)};
    pthread_t t;
    pthread_create(&t, NULL, slow_request, &f);
    usleep(100 * 1000); /* let the request reach the handler */
    mc_http_stop(srv, 5000);
    pthread_join(t, NULL);
    assert_int_equal(f.r.status, 200);
    assert_string_equal(f.r.body, "done");
    /* After the stop nothing listens any more. */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", f.port);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    assert_int_equal(curl_easy_perform(c), CURLE_COULDNT_CONNECT);
    curl_easy_cleanup(c);
    mc_http_free(srv);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_endpoints),
        cmocka_unit_test(test_routing_errors_are_json),
        cmocka_unit_test(test_body_collection),
        cmocka_unit_test(test_graceful_stop_finishes_requests_in_flight),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
