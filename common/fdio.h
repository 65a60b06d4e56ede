/* fdio.h — writing a whole buffer to a descriptor: the loop every daemon that
 * speaks over a socket or pipe needs (short writes, EINTR, no SIGPIPE when
 * the peer is gone). In common/ so the upload daemon, its probe server and
 * the tests share one. */
#ifndef MCLOUD_FDIO_H
#define MCLOUD_FDIO_H

#include <stdbool.h>
#include <stddef.h>

/* Writes all len bytes to fd: send(MSG_NOSIGNAL) on a socket, write() on
 * anything else (a pipe). false when the peer closed or an error other than
 * EINTR stopped it. */
bool mc_write_all(int fd, const void *data, size_t len);

#endif
