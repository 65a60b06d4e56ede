/* daemon.h — the life cycle every mcloud daemon shares: logging set up from
 * the configuration, signals, waiting for SIGTERM/SIGINT to stop gracefully,
 * and naming its threads (shown by top -H, ps -L and gdb). */
#ifndef MCLOUD_DAEMON_H
#define MCLOUD_DAEMON_H

/* Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (and every thread
 * created after it) and ignores SIGPIPE. Call first in main(). */
void mc_daemon_block_signals(void);
/* Waits for SIGTERM or SIGINT and returns its number (SIGHUP is ignored). */
int mc_daemon_wait_for_stop(void);

/* Linux: a thread name is 15 characters and the NUL. */
#define MC_THREAD_NAME_MAX 16
/* Names the calling thread "what", or "what-suffix" with the suffix cut to
 * 10 characters, all cut to 15. Threads it starts afterwards (a library's
 * workers too) inherit the name. */
void mc_daemon_name_thread(const char *what, const char *suffix);

#endif
