/* addr.h — parsing "host:port" addresses, the form every server address in
 * mcloud's configuration takes ("127.0.0.1:13306", "db.local",
 * "[::1]:6379"). One parser, so every client accepts the same spellings. */
#ifndef MCLOUD_ADDR_H
#define MCLOUD_ADDR_H

#include <stddef.h>

#include "common/error.h"

/* Splits addr into host and port. A bare IPv6 address needs brackets. When
 * the port is missing, default_port is used; 0 makes the port required. */
int mc_addr_parse(const char *addr, char *host, size_t hostlen, int *port, int default_port,
                  mc_err *err);

#endif
