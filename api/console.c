/* console.c — serves the web console (api/console/: index.html, its ES
 * modules and the pinned npm libraries in node_modules/) at /console/.
 * Static files only: GET and HEAD, a path checked by mc_api_console_file
 * (no traversal, no dot files, known types only) and taken as sent (a
 * percent-escape never names a console file), a regular file opened from
 * api.console_dir. The page itself and its modules are revalidated on every
 * load (Last-Modified / If-Modified-Since), the pinned libraries cached for
 * an hour; the page may load scripts only from this origin (CSP). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "api/console.h"
#include "common/http_date.h"
#include "common/log.h"

/* The API (connect-src) is this origin; tus uploads go to mcloud-upload and
 * playback to mcloud-stream, whose origins the deployment chooses. */
#define CSP "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " \
            "img-src 'self' data: blob: http: https:; media-src 'self' blob: http: https:; " \
            "connect-src 'self' http: https:; worker-src 'self' blob:; frame-ancestors 'none'; " \
            "base-uri 'none'; form-action 'none'"

static enum MHD_Result not_found(mc_http_req *req) {
    return mc_http_send_problem(req, 404, "not_found", "Not Found", NULL,
                                "no such console file: %s", req->path);
}

static enum MHD_Result redirect(mc_http_req *req) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Location", "/console/");
    return mc_http_queue(req, 308, resp);
}

static bool not_modified_since(mc_http_req *req, time_t mtime) {
    const char *ims = mc_http_header(req, "If-Modified-Since");
    time_t t;
    return ims && mc_http_date_parse(ims, &t) == 0 && mtime <= t;
}

static enum MHD_Result send_file(mc_http_req *req, const char *dir, const char *rel,
                                 const char *type) {
    char path[1024 + MC_API_CONSOLE_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0) close(fd);
        if (strcmp(rel, "index.html") == 0 || mc_api_console_is_vendor(rel))
            mc_log_kv(MC_LOG_WARN, "console file missing (run scripts/bootstrap.sh)", "path", path,
                      NULL);
        return not_found(req);
    }
    bool vendor = mc_api_console_is_vendor(rel);
    struct MHD_Response *resp;
    unsigned status = 200;
    if (!vendor && not_modified_since(req, st.st_mtime)) {
        close(fd);
        status = 304;
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    } else {
        resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
        if (!resp) close(fd);
    }
    if (!resp) return MHD_NO;
    char date[MC_HTTP_DATE_LEN];
    mc_http_date_format(st.st_mtime, date);
    if (status == 200) MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Last-Modified", date);
    MHD_add_response_header(resp, "Cache-Control", vendor ? "public, max-age=3600" : "no-cache");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    if (strncmp(type, "text/html", 9) == 0) MHD_add_response_header(resp, "Content-Security-Policy", CSP);
    return mc_http_queue(req, status, resp);
}

static enum MHD_Result handle(mc_http_req *req, const char *data, size_t *size) {
    (void)data; /* answered on the first call; a body is drained */
    if (req->status) {
        *size = 0;
        return MHD_YES;
    }
    mc_api_server *srv = req->route_ctx;
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        struct MHD_Response *resp = mc_http_error_response(
            405, "method %s is not allowed on the console; use GET or HEAD", req->method);
        if (!resp) return MHD_NO;
        MHD_add_response_header(resp, "Allow", "GET, HEAD");
        return mc_http_queue(req, 405, resp);
    }
    if (strcmp(req->raw_path, "/console") == 0) return redirect(req);
    char rel[MC_API_CONSOLE_PATH_MAX];
    const char *type = NULL;
    if (strcmp(req->raw_path, req->path) == 0)
        type = mc_api_console_file(req->path, strlen(req->path), rel, sizeof rel);
    if (!type) return not_found(req);
    return send_file(req, srv->set.console_dir, rel, type);
}

int mc_api_console_routes(mc_api_server *srv, mc_err *err) {
    if (mc_http_route(srv->svc.http, "*", "/console*", handle, srv) < 0)
        return mc_err_set(err, MC_ERR_INTERNAL, "cannot add the /console/ route");
    return 0;
}
