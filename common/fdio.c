/* fdio.c — writing and reading a whole buffer on a descriptor (see fdio.h). */
#include "common/fdio.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/clock.h"

bool mc_write_all(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK) n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += (size_t)n;
        len -= (size_t)n;
    }
    return true;
}

/* Waits until fd is readable; false once the deadline has passed. */
static bool wait_readable(int fd, int64_t deadline_ms) {
    for (;;) {
        int64_t left = deadline_ms - mc_monotonic_ms();
        if (left <= 0) return false;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(left > INT_MAX ? INT_MAX : left)) > 0) return true;
    }
}

bool mc_read_all(int fd, void *data, size_t len, int64_t deadline_ms) {
    char *p = data;
    while (len) {
        if (deadline_ms >= 0 && !wait_readable(fd, deadline_ms)) return false;
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += (size_t)n;
        len -= (size_t)n;
    }
    return true;
}

/* Reads f to its end into a buffer grown as needed; NULL past max bytes. */
static char *read_stream(FILE *f, const char *path, size_t max, size_t *len, mc_err *err) {
    size_t cap = 0, n = 0;
    char *buf = NULL;
    for (;;) {
        if (n == cap) { /* n <= max here, so cap stays under twice max */
            size_t want = cap ? cap * 2 : 4096;
            char *grown = realloc(buf, want + 1);
            if (!grown) {
                free(buf);
                mc_err_set(err, MC_ERR_INTERNAL, "%s: out of memory", path);
                return NULL;
            }
            buf = grown;
            cap = want;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n > max) {
            free(buf);
            mc_err_set(err, MC_ERR_INVALID, "%s: larger than %zu bytes", path, max);
            return NULL;
        }
        if (got == 0) break;
    }
    if (ferror(f)) {
        free(buf);
        mc_err_set(err, MC_ERR_INTERNAL, "%s: read error", path);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

char *mc_read_file(const char *path, size_t max, size_t *len, mc_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        mc_err_set(err, errno == ENOENT ? MC_ERR_NOT_FOUND : MC_ERR_INTERNAL, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = read_stream(f, path, max, len, err);
    fclose(f);
    return buf;
}

int mc_write_file_atomic(const char *path, const char *data, size_t len, mc_err *err) {
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return mc_err_set(err, MC_ERR_INVALID, "path too long: %s", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return mc_err_set(err, MC_ERR_INTERNAL, "cannot write %s: %s", tmp, strerror(errno));
    int ok = fwrite(data, 1, len, f) == len && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) < 0) return mc_err_set(err, MC_ERR_INTERNAL, "cannot write %s", path);
    return 0;
}
