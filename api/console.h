/* console.h — the web console mcloud-api serves at /console/ (api/console/):
 * the pure mapping of a request path to one of the console's files, which
 * unit tests and a fuzz target link, and the daemon's route. */
#ifndef MCLOUD_API_CONSOLE_H
#define MCLOUD_API_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

typedef struct mc_api_server mc_api_server;

#define MC_API_CONSOLE_PATH_MAX 512

/* The file a decoded request path names, relative to the console directory
 * ("/console/" alone: "index.html"), into rel (cap bytes). Returns its
 * content type, or NULL for a path that may not name a served file: not
 * under /console/, a byte outside [A-Za-z0-9._-/], an empty segment or one
 * starting with '.', ".." anywhere (no traversal, no dot files), too long,
 * or an extension the console does not serve (so package.json and the lock
 * file stay private). */
const char *mc_api_console_file(const char *path, size_t len, char *rel, size_t cap);
/* Whether rel is a pinned third-party file (node_modules/): cached longer. */
bool mc_api_console_is_vendor(const char *rel);

/* Adds GET/HEAD /console and /console/... serving srv->set.console_dir. */
int mc_api_console_routes(mc_api_server *srv, mc_err *err);

#endif
