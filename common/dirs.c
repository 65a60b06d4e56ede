/* dirs.c — mc_mkdir_parents (see dirs.h). */
#include "common/dirs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int mc_mkdir_parents(const char *path, mc_err *err) {
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return mc_err_set(err, MC_ERR_INVALID, "path too long: %.64s...", path);
    for (char *slash = strchr(buf + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        int rc = mkdir(buf, 0755);
        int saved = errno;
        *slash = '/';
        if (rc != 0 && saved != EEXIST)
            return mc_err_set(err, MC_ERR_INTERNAL, "mkdir %s: %s", buf, strerror(saved));
    }
    return 0;
}
