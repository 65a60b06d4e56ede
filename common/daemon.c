/* daemon.c — signal handling for graceful stops (see daemon.h). Signals are
 * blocked everywhere and taken synchronously with sigwait in the main thread,
 * so no handler ever runs in the middle of library code. */
#include "common/daemon.h"

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>

static sigset_t stop_signals(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    return set;
}

void mc_daemon_block_signals(void) {
    sigset_t set = stop_signals();
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int mc_daemon_wait_for_stop(void) {
    sigset_t set = stop_signals();
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig != SIGHUP) return sig;
    }
}

void mc_daemon_name_thread(const char *what, const char *suffix) {
    char name[MC_THREAD_NAME_MAX];
    snprintf(name, sizeof name, "%s%s%.10s", what, suffix ? "-" : "", suffix ? suffix : "");
    pthread_setname_np(pthread_self(), name);
}
