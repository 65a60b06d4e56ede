/* fdio.c — writing and reading a whole buffer on a descriptor (see fdio.h). */
#include "common/fdio.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
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
