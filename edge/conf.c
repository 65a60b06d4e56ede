/* conf.c — backend addresses and the nginx.conf of the edge (see edge.h).
 *
 * The configuration is the edge's whole contract with nginx, written here
 * and nowhere else:
 * - one upstream per public service holding its ready instances (a service
 *   without one points at a local socket answering 503 with a JSON body);
 * - one server per service on its stable port, HTTP and, with a
 *   certificate, HTTPS;
 * - GET and HEAD go to `location /`, which passes a request that got no
 *   answer (connection refused or reset, timeout, 502/503/504) to the next
 *   instance; every other method (POST, PATCH, DELETE, OPTIONS) is sent
 *   once through the named location @once, never retried (a tus PATCH
 *   half-written to a dying instance must not be replayed elsewhere: the
 *   client resumes with HEAD);
 * - bodies stream through (`proxy_request_buffering off`, no size limit,
 *   an hour between reads), responses are not spooled to disk;
 * - Range, Upload-* and every other header pass untouched; Location is
 *   rewritten to the scheme and authority the client used (mcloud-upload
 *   writes it from upload.public_url, which names one address, while a
 *   client may have come through the edge's HTTP or HTTPS port);
 * - GET and HEAD reuse kept-alive connections to the instances (a new
 *   connection per request cost 12x the requests per second: the
 *   instances run a thread per connection); @once uses a second upstream
 *   of the same instances without keep-alive, so a PATCH never lands on a
 *   connection an instance closed while idle, which it could not survive
 *   un-retried. */
#include "edge/edge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/addr.h"
#include "common/textbuf.h"
#include "orchestrator/wire.h"

/* Host characters that may reach nginx.conf (a name, IPv4, or [IPv6]). */
static bool host_valid(const char *h) {
    size_t n = strlen(h);
    if (n == 0) return false;
    bool v6 = strchr(h, ':') != NULL;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || (v6 && c == ':');
        if (!ok) return false;
    }
    return true;
}

static int format_backend(const char *host, int port, char *out, size_t cap, mc_err *err) {
    if (!host_valid(host)) return mc_err_set(err, MC_ERR_INVALID, "'%s' is not a host name or address", host);
    if (port < 1 || port > 65535) return mc_err_set(err, MC_ERR_INVALID, "port %d is out of range", port);
    int n = strchr(host, ':') ? snprintf(out, cap, "[%s]:%d", host, port) : snprintf(out, cap, "%s:%d", host, port);
    if (n < 0 || (size_t)n >= cap) return mc_err_set(err, MC_ERR_INVALID, "address '%s' is too long", host);
    return 0;
}

/* The host and port of the authority at a (after "http://", up to the
 * first '/'): the one reading of an authority for registry entries and
 * agent URLs. what names the input in messages. */
static int parse_authority(const char *a, const char *what, char *host, size_t cap, int *port, int default_port,
                           mc_err *err) {
    size_t len = strcspn(a, "/");
    char authority[MC_EDGE_ADDR_MAX];
    if (len == 0 || len >= sizeof authority) return mc_err_set(err, MC_ERR_INVALID, "%s has no usable host:port", what);
    memcpy(authority, a, len);
    authority[len] = '\0';
    if (strchr(authority, '@')) return mc_err_set(err, MC_ERR_INVALID, "%s carries user information", what);
    if (mc_addr_parse(authority, host, cap, port, default_port, err) < 0) return mc_err_wrap(err, "%s", what);
    return 0;
}

int mc_edge_backend_from_url(const char *url, char *out, size_t cap, mc_err *err) {
    if (!url) return mc_err_set(err, MC_ERR_INVALID, "no address");
    const char *a = url;
    if (strncmp(a, "http://", 7) == 0) a += 7;
    else if (strstr(a, "://")) return mc_err_set(err, MC_ERR_INVALID, "'%.80s' is not an http:// address", url);
    size_t len = strcspn(a, "/");
    if (a[len] == '/' && a[len + 1] != '\0')
        return mc_err_set(err, MC_ERR_INVALID, "'%.80s' has a path (the edge proxies to the root)", url);
    char what[96], host[MC_EDGE_ADDR_MAX];
    snprintf(what, sizeof what, "'%.80s'", url);
    int port = 0;
    if (parse_authority(a, what, host, sizeof host, &port, 0, err) < 0) return -1;
    return format_backend(host, port, out, cap, err);
}

/* The service of svcs an instance is a backend of, or NULL: running,
 * healthy and ready, with a port. */
static mc_edge_service *backend_of(const mc_report *r, mc_edge_service *svcs, int nsvcs) {
    if (strcmp(r->state, "running") != 0 || !r->healthy || !r->ready || r->port <= 0) return NULL;
    for (int k = 0; k < nsvcs; k++)
        if (strcmp(r->service, svcs[k].name) == 0) return &svcs[k];
    return NULL;
}

/* The backends of a parsed heartbeat: all checked (pass 0), then added
 * (pass 1), so a heartbeat with one bad address adds none. */
static int add_reports(const mc_node *node, const mc_report *reports, int count, mc_edge_service *svcs, int nsvcs,
                       mc_err *err) {
    char host[MC_EDGE_ADDR_MAX], addr[MC_EDGE_ADDR_MAX];
    int port;
    /* the heartbeat's parser already required http:// */
    if (parse_authority(node->agent_url + 7, "field 'agent_url'", host, sizeof host, &port, 80, err) < 0) return -1;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < count; i++) {
            mc_edge_service *s = backend_of(&reports[i], svcs, nsvcs);
            if (!s) continue;
            if (format_backend(host, reports[i].port, addr, sizeof addr, err) < 0)
                return mc_err_wrap(err, "node %s", node->name);
            if (pass == 1) mc_edge_backend_add(s, addr);
        }
    return 0;
}

int mc_edge_backends_from_heartbeat(const char *json, size_t len, mc_edge_service *svcs, int nsvcs, mc_err *err) {
    mc_node node;
    mc_report *reports = calloc(MC_HEARTBEAT_MAX_INSTANCES, sizeof *reports);
    if (!reports) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    int count = 0, rc = mc_heartbeat_parse(json, len, &node, reports, MC_HEARTBEAT_MAX_INSTANCES, &count, err);
    if (rc == 0) rc = add_reports(&node, reports, count, svcs, nsvcs, err);
    free(reports);
    return rc;
}

static int cmp_addr(const void *a, const void *b) { return strcmp(a, b); }

void mc_edge_backends_normalize(mc_edge_service *s) {
    qsort(s->backends, (size_t)s->n, MC_EDGE_ADDR_MAX, cmp_addr);
    int w = 0;
    for (int i = 0; i < s->n; i++)
        if (w == 0 || strcmp(s->backends[w - 1], s->backends[i]) != 0) {
            if (w != i) memcpy(s->backends[w], s->backends[i], MC_EDGE_ADDR_MAX);
            w++;
        }
    s->n = w;
}

bool mc_edge_backend_add(mc_edge_service *s, const char *addr) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->backends[i], addr) == 0) return true;
    if (s->n >= MC_EDGE_MAX_BACKENDS || strlen(addr) >= MC_EDGE_ADDR_MAX) return false;
    snprintf(s->backends[s->n++], MC_EDGE_ADDR_MAX, "%s", addr);
    return true;
}

static void render_head(mc_textbuf *tb, const mc_edge_conf *c) {
    const char *d = c->dir;
    mc_textbuf_printf(tb, "# written by mcloud-edge: rewritten (and nginx reloaded) whenever the ready\n"
                          "# instances change; edits here are lost\n");
    if (c->user[0]) mc_textbuf_printf(tb, "user %s %s;\n", c->user, c->group);
    mc_textbuf_printf(tb,
                      "worker_processes auto;\n"
                      "pid %s/nginx.pid;\n"
                      "error_log %s/error.log warn;\n"
                      "events { worker_connections 4096; }\n"
                      "http {\n"
                      "    server_tokens off;\n"
                      "    default_type application/octet-stream;\n"
                      "    log_format edge '$remote_addr \"$request\" $status $body_bytes_sent "
                      "\"$http_range\" upstream=$upstream_addr upstream_status=$upstream_status';\n"
                      "    access_log %s/access.log edge;\n"
                      "    client_body_temp_path %s/tmp/body;\n"
                      "    proxy_temp_path %s/tmp/proxy;\n"
                      "    fastcgi_temp_path %s/tmp/fastcgi;\n"
                      "    uwsgi_temp_path %s/tmp/uwsgi;\n"
                      "    scgi_temp_path %s/tmp/scgi;\n",
                      d, d, d, d, d, d, d, d);
    mc_textbuf_printf(tb,
                      "    # tus: bodies of any size stream through, long pauses allowed\n"
                      "    client_max_body_size 0;\n"
                      "    client_body_timeout 1h;\n"
                      "    proxy_request_buffering off;\n"
                      "    proxy_max_temp_file_size 0;\n"
                      "    proxy_buffer_size 16k;\n"
                      "    proxy_buffers 8 64k;\n"
                      "    proxy_busy_buffers_size 128k;\n"
                      "    large_client_header_buffers 4 32k;\n"
                      "    proxy_http_version 1.1;\n"
                      "    proxy_set_header Connection \"\";\n"
                      "    proxy_connect_timeout 2s;\n"
                      "    # where the client came in: Host, X-Forwarded-*, and Location rewritten to it\n"
                      "    map $http_host $mcloud_edge_authority {\n"
                      "        \"\" $host:$server_port;\n"
                      "        default $http_host;\n"
                      "    }\n"
                      "    proxy_set_header Host $mcloud_edge_authority;\n"
                      "    proxy_set_header X-Forwarded-Host $mcloud_edge_authority;\n"
                      "    proxy_set_header X-Forwarded-Proto $scheme;\n"
                      "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
                      "    proxy_redirect ~^https?://[^/]+(/.*)?$ $scheme://$mcloud_edge_authority$1;\n");
    if (c->cert[0])
        mc_textbuf_printf(tb,
                          "    ssl_certificate %s;\n"
                          "    ssl_certificate_key %s;\n"
                          "    ssl_protocols TLSv1.2 TLSv1.3;\n"
                          "    ssl_session_cache shared:mcloud_edge:4m;\n",
                          c->cert, c->key);
}

/* One upstream of the service's ready instances; keepalive > 0 keeps that
 * many idle connections per worker. */
static void render_upstream(mc_textbuf *tb, const mc_edge_conf *c, const mc_edge_service *s, const char *suffix,
                            int keepalive) {
    mc_textbuf_printf(tb, "    upstream mcloud_%s%s {\n", s->name, suffix);
    for (int i = 0; i < s->n; i++)
        mc_textbuf_printf(tb, "        server %s max_fails=1 fail_timeout=5s;\n", s->backends[i]);
    if (s->n == 0) mc_textbuf_printf(tb, "        server unix:%s/none-%s.sock;\n", c->dir, s->name);
    if (keepalive > 0 && s->n > 0) mc_textbuf_printf(tb, "        keepalive %d;\n", keepalive);
    mc_textbuf_printf(tb, "    }\n");
}

static void render_service(mc_textbuf *tb, const mc_edge_conf *c, const mc_edge_service *s) {
    mc_textbuf_printf(tb, "\n    # %s: %d ready instance(s)\n", s->name, s->n);
    render_upstream(tb, c, s, "", 32);     /* GET/HEAD: a dead kept-alive connection is retried */
    render_upstream(tb, c, s, "_once", 0); /* the rest: a fresh connection, never retried */
    if (s->n == 0)
        mc_textbuf_printf(tb,
                          "    server {\n"
                          "        listen unix:%s/none-%s.sock;\n"
                          "        default_type application/json;\n"
                          "        return 503 '{\"error\":{\"status\":503,\"message\":\"no ready instance of "
                          "mcloud-%s behind the edge\"}}';\n"
                          "    }\n",
                          c->dir, s->name, s->name);
    mc_textbuf_printf(tb, "    server {\n");
    if (s->http_port) mc_textbuf_printf(tb, "        listen %s:%d;\n", c->bind, s->http_port);
    if (s->https_port && c->cert[0]) mc_textbuf_printf(tb, "        listen %s:%d ssl;\n", c->bind, s->https_port);
    mc_textbuf_printf(tb,
                      "        location / {\n"
                      "            error_page 418 = @once;\n"
                      "            if ($request_method !~ ^(GET|HEAD)$) { return 418; }\n"
                      "            proxy_pass http://mcloud_%s;\n"
                      "            proxy_next_upstream error timeout http_502 http_503 http_504;\n"
                      "        }\n"
                      "        location @once {\n"
                      "            proxy_pass http://mcloud_%s_once;\n"
                      "            proxy_next_upstream off;\n"
                      "            proxy_read_timeout 1h;\n"
                      "            proxy_send_timeout 1h;\n"
                      "        }\n"
                      "    }\n",
                      s->name, s->name);
}

char *mc_edge_render(const mc_edge_conf *c) {
    mc_textbuf tb = {0};
    render_head(&tb, c);
    for (int i = 0; i < c->nservices; i++) {
        const mc_edge_service *s = &c->services[i];
        if (s->http_port || (s->https_port && c->cert[0])) render_service(&tb, c, s);
    }
    mc_textbuf_printf(&tb, "}\n");
    return mc_textbuf_finish(&tb);
}
