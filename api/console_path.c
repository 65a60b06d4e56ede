/* console_path.c — which file of the console directory a request path names
 * (api/console.h). Pure and strict: an allow-list of bytes and extensions,
 * every segment non-empty and not starting with '.', no ".." anywhere, so
 * no request reaches outside the directory, a dot file, or the npm
 * manifests beside the page. */
#include <string.h>

#include "api/console.h"

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
};

static bool allowed_byte(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-' || c == '/';
}

static const char *type_of(const char *rel, size_t n) {
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        size_t e = strlen(types[i].ext);
        if (n > e && memcmp(rel + n - e, types[i].ext, e) == 0) return types[i].type;
    }
    return NULL;
}

const char *mc_api_console_file(const char *path, size_t len, char *rel, size_t cap) {
    static const char prefix[] = "/console/";
    const size_t plen = sizeof prefix - 1;
    if (!path || !rel || cap == 0 || len < plen || memcmp(path, prefix, plen) != 0) return NULL;
    const char *p = path + plen;
    size_t n = len - plen;
    if (n == 0) {
        p = "index.html";
        n = strlen(p);
    }
    if (n >= cap || n >= MC_API_CONSOLE_PATH_MAX) return NULL;
    bool seg_start = true;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!allowed_byte(c)) return NULL;
        if (seg_start && (c == '.' || c == '/')) return NULL;
        if (c == '.' && i > 0 && p[i - 1] == '.') return NULL; /* no "..", even inside a name */
        seg_start = c == '/';
    }
    if (seg_start) return NULL; /* a trailing '/': a directory */
    const char *type = type_of(p, n);
    if (!type) return NULL;
    memcpy(rel, p, n);
    rel[n] = '\0';
    return type;
}

bool mc_api_console_is_vendor(const char *rel) {
    return strncmp(rel, "node_modules/", 13) == 0;
}
