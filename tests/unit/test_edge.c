/* The edge's pure logic (edge/conf.c): backend addresses from the registry
 * and from node heartbeats (nothing that could inject an nginx directive),
 * and the nginx.conf it renders. The rendered text is also checked by the
 * real `nginx -t` in tests/integration/edge. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/edge.h"

static void test_backend_from_url(void **state) {
    (void)state;
    char out[MC_EDGE_ADDR_MAX];
    mc_err err = {0};
    assert_int_equal(mc_edge_backend_from_url("http://127.0.0.1:21330", out, sizeof out, &err), 0);
    assert_string_equal(out, "127.0.0.1:21330");
    assert_int_equal(mc_edge_backend_from_url("http://node-2.local:80/", out, sizeof out, &err), 0);
    assert_string_equal(out, "node-2.local:80");
    assert_int_equal(mc_edge_backend_from_url("http://[::1]:8080", out, sizeof out, &err), 0);
    assert_string_equal(out, "[::1]:8080");
    assert_int_equal(mc_edge_backend_from_url("10.0.0.7:9000", out, sizeof out, &err), 0);
    assert_string_equal(out, "10.0.0.7:9000");

    const char *bad[] = {
        "https://127.0.0.1:1",            /* the edge speaks http to instances */
        "http://127.0.0.1",               /* no port */
        "http://127.0.0.1:0",
        "http://127.0.0.1:70000",
        "http://user@127.0.0.1:80",
        "http://127.0.0.1:80/files",      /* a path would be dropped silently */
        "http://a;b:80",                  /* ; ends an nginx directive */
        "http://a}b:80",
        "http://a b:80",
        "http://a\nserver evil:80",
        "http://:80",
        "",
        "{\"http\":\"10.0.0.2:8080\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = '\0';
        assert_int_equal(mc_edge_backend_from_url(bad[i], out, sizeof out, &err), -1);
        assert_true(err.msg[0] != '\0');
    }
    assert_int_equal(mc_edge_backend_from_url(NULL, out, sizeof out, &err), -1);
}

static const char HEARTBEAT[] =
    "{\"v\":1,\"node\":\"node-1\",\"agent_url\":\"http://10.1.2.3:18090\",\"labels\":{},"
    "\"capacity\":{\"cpus\":2,\"memory_bytes\":1000000000,\"pids\":1000},"
    "\"free\":{\"cpus\":1,\"memory_bytes\":500000000},\"fence\":3,\"instances\":["
    "{\"name\":\"stream-0\",\"service\":\"stream\",\"index\":0,\"state\":\"running\",\"ready\":true,"
    "\"healthy\":true,\"spec_version\":1,\"port\":21200},"
    "{\"name\":\"stream-1\",\"service\":\"stream\",\"index\":1,\"state\":\"running\",\"ready\":false,"
    "\"healthy\":true,\"spec_version\":1,\"port\":21201},"
    "{\"name\":\"stream-2\",\"service\":\"stream\",\"index\":2,\"state\":\"starting\",\"ready\":true,"
    "\"healthy\":true,\"spec_version\":1,\"port\":21202},"
    "{\"name\":\"stream-3\",\"service\":\"stream\",\"index\":3,\"state\":\"running\",\"ready\":true,"
    "\"healthy\":false,\"spec_version\":1,\"port\":21203},"
    "{\"name\":\"upload-0\",\"service\":\"upload\",\"index\":0,\"state\":\"running\",\"ready\":true,"
    "\"healthy\":true,\"spec_version\":1,\"port\":21000}]}";

static void test_backends_from_heartbeat(void **state) {
    (void)state;
    mc_edge_service s[3] = {{.name = "stream"}, {.name = "upload"}, {.name = "api"}};
    mc_err err = {0};
    /* only running, healthy AND ready instances, each to its service, in one call */
    assert_int_equal(mc_edge_backends_from_heartbeat(HEARTBEAT, strlen(HEARTBEAT), s, 3, &err), 0);
    assert_int_equal(s[0].n, 1);
    assert_string_equal(s[0].backends[0], "10.1.2.3:21200");
    assert_int_equal(s[1].n, 1);
    assert_string_equal(s[1].backends[0], "10.1.2.3:21000");
    assert_int_equal(s[2].n, 0);
    /* a service not asked for gets nothing, the others still theirs */
    mc_edge_service only_upload = {.name = "upload"};
    assert_int_equal(mc_edge_backends_from_heartbeat(HEARTBEAT, strlen(HEARTBEAT), &only_upload, 1, &err), 0);
    assert_int_equal(only_upload.n, 1);
    mc_edge_service none[3] = {{.name = "stream"}, {.name = "upload"}, {.name = "api"}};
    const char *bad = "{\"v\":1,\"node\":\"n\"}";
    assert_int_equal(mc_edge_backends_from_heartbeat(bad, strlen(bad), none, 3, &err), -1);
    assert_true(err.msg[0] != '\0');
    assert_int_equal(mc_edge_backends_from_heartbeat("{", 1, none, 3, &err), -1);
    assert_int_equal(none[0].n + none[1].n + none[2].n, 0);
}

static void test_normalize(void **state) {
    (void)state;
    mc_edge_service s = {.name = "stream"};
    assert_true(mc_edge_backend_add(&s, "127.0.0.1:3"));
    assert_true(mc_edge_backend_add(&s, "127.0.0.1:1"));
    assert_true(mc_edge_backend_add(&s, "127.0.0.1:3"));
    assert_true(mc_edge_backend_add(&s, "127.0.0.1:2"));
    assert_int_equal(s.n, 3);
    mc_edge_backends_normalize(&s);
    assert_string_equal(s.backends[0], "127.0.0.1:1");
    assert_string_equal(s.backends[2], "127.0.0.1:3");
    for (int i = s.n; i < MC_EDGE_MAX_BACKENDS; i++) {
        char a[32];
        snprintf(a, sizeof a, "10.0.0.1:%d", 1000 + i);
        assert_true(mc_edge_backend_add(&s, a));
    }
    assert_false(mc_edge_backend_add(&s, "10.9.9.9:1"));
}

static mc_edge_conf conf(void) {
    mc_edge_conf c = {.dir = "/var/lib/mcloud/edge", .bind = "127.0.0.1", .nservices = 3};
    snprintf(c.cert, sizeof c.cert, "/etc/mcloud/edge.pem");
    snprintf(c.key, sizeof c.key, "/etc/mcloud/edge.key");
    const char *names[] = {"upload", "stream", "api"};
    for (int i = 0; i < 3; i++) {
        snprintf(c.services[i].name, sizeof c.services[i].name, "%s", names[i]);
        c.services[i].http_port = 18080 + i;
        c.services[i].https_port = 18443 + i;
    }
    return c;
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

static void test_render(void **state) {
    (void)state;
    mc_edge_conf c = conf();
    mc_edge_backend_add(&c.services[1], "127.0.0.1:21331");
    mc_edge_backend_add(&c.services[1], "127.0.0.1:21330");
    mc_edge_backends_normalize(&c.services[1]);
    mc_edge_backend_add(&c.services[0], "127.0.0.1:21340");
    c.services[2].http_port = 0;
    c.services[2].https_port = 0;  /* api not served */
    char *t = mc_edge_render(&c);
    assert_non_null(t);
    /* upstreams from the ready instances, in a stable order */
    const char *a = strstr(t, "server 127.0.0.1:21330 "), *b = strstr(t, "server 127.0.0.1:21331 ");
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a < b);
    assert_non_null(strstr(t, "upstream mcloud_upload {\n        server 127.0.0.1:21340 "));
    assert_null(strstr(t, "mcloud_api"));
    /* one stable address per service, HTTP and HTTPS */
    assert_non_null(strstr(t, "listen 127.0.0.1:18080;"));
    assert_non_null(strstr(t, "listen 127.0.0.1:18444 ssl;"));
    assert_non_null(strstr(t, "ssl_certificate /etc/mcloud/edge.pem;"));
    /* tus: streamed bodies of any size, long timeouts */
    assert_non_null(strstr(t, "proxy_request_buffering off;"));
    assert_non_null(strstr(t, "client_max_body_size 0;"));
    assert_non_null(strstr(t, "proxy_read_timeout 1h;"));
    /* retries for GET/HEAD only: everything else goes through @once */
    assert_int_equal(count(t, "if ($request_method !~ ^(GET|HEAD)$) { return 418; }"), 2);
    assert_int_equal(count(t, "proxy_next_upstream off;"), 2);
    assert_int_equal(count(t, "proxy_next_upstream error timeout http_502 http_503 http_504;"), 2);
    assert_null(strstr(t, "non_idempotent"));
    /* Location points where the client came in */
    assert_non_null(strstr(t, "proxy_redirect ~^https?://[^/]+(/.*)?$ $scheme://$mcloud_edge_authority$1;"));
    /* kept-alive connections for GET/HEAD only; @once gets fresh ones */
    assert_non_null(strstr(t, "upstream mcloud_stream {\n        server 127.0.0.1:21330 max_fails=1 fail_timeout=5s;\n"
                              "        server 127.0.0.1:21331 max_fails=1 fail_timeout=5s;\n        keepalive 32;\n    }"));
    assert_non_null(strstr(t, "upstream mcloud_stream_once {\n        server 127.0.0.1:21330 max_fails=1 fail_timeout=5s;\n"
                              "        server 127.0.0.1:21331 max_fails=1 fail_timeout=5s;\n    }"));
    assert_non_null(strstr(t, "proxy_pass http://mcloud_stream_once;"));
    assert_non_null(strstr(t, "proxy_set_header Connection \"\";"));
    /* the same input renders the same text (no reload without a change) */
    char *again = mc_edge_render(&c);
    assert_string_equal(t, again);
    free(again);
    free(t);
}

static void test_render_empty_and_plain(void **state) {
    (void)state;
    mc_edge_conf c = conf();
    c.cert[0] = c.key[0] = '\0';
    c.user[0] = '\0';
    char *t = mc_edge_render(&c);
    assert_non_null(t);
    /* no instance: a local socket answers 503 naming the service */
    assert_non_null(strstr(t, "server unix:/var/lib/mcloud/edge/none-stream.sock;"));
    assert_non_null(strstr(t, "no ready instance of mcloud-stream behind the edge"));
    assert_null(strstr(t, " ssl;"));
    assert_null(strstr(t, "ssl_certificate"));
    assert_null(strstr(t, "\nuser "));
    free(t);
    snprintf(c.user, sizeof c.user, "root");
    snprintf(c.group, sizeof c.group, "root");
    t = mc_edge_render(&c);
    assert_non_null(strstr(t, "\nuser root root;\n"));
    free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backend_from_url),
        cmocka_unit_test(test_backends_from_heartbeat),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_render_empty_and_plain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
