/* fdio.h — writing and reading a whole buffer on a descriptor: the loops
 * every daemon that speaks over a socket or pipe needs (short writes and
 * reads, EINTR, no SIGPIPE when the peer is gone, an optional deadline),
 * reading a small file whole and replacing one atomically. In common/ so every daemon and the tests share
 * one. */
#ifndef MCLOUD_FDIO_H
#define MCLOUD_FDIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Writes all len bytes to fd: send(MSG_NOSIGNAL) on a socket, write() on
 * anything else (a pipe). false when the peer closed or an error other than
 * EINTR stopped it. */
bool mc_write_all(int fd, const void *data, size_t len);
/* Reads exactly len bytes from fd (a socket or a pipe). deadline_ms: a
 * mc_monotonic_ms() instant to give up at, or -1 to wait as long as it
 * takes. false at EOF, on an error other than EINTR, or at the deadline. */
bool mc_read_all(int fd, void *data, size_t len, int64_t deadline_ms);

/* The whole file at path, NUL-terminated (free() it), its size in *len.
 * NULL with err filled when it cannot be read (MC_ERR_NOT_FOUND: it does not
 * exist) or holds more than max bytes (MC_ERR_INVALID). */
char *mc_read_file(const char *path, size_t max, size_t *len, mc_err *err);
/* Replaces the file at path with data, atomically (path.tmp, fsync,
 * rename): a reader sees the old content or the new, never a part. */
int mc_write_file_atomic(const char *path, const char *data, size_t len, mc_err *err);

#endif
