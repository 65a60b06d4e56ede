/* daemon.h — the life cycle every mcloud daemon shares: logging set up from
 * the configuration, signals, and waiting for SIGTERM/SIGINT to stop
 * gracefully. */
#ifndef MCLOUD_DAEMON_H
#define MCLOUD_DAEMON_H

/* Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (and every thread
 * created after it) and ignores SIGPIPE. Call first in main(). */
void mc_daemon_block_signals(void);
/* Waits for SIGTERM or SIGINT and returns its number (SIGHUP is ignored). */
int mc_daemon_wait_for_stop(void);

#endif
