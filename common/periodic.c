/* periodic.c — background housekeeping threads (see periodic.h). One
 * mutex and condition variable per thread carry the nudge and stop flags;
 * the step itself runs unlocked. */
#include "common/periodic.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/daemon.h"

struct mc_periodic {
    char name[16];
    long interval_ms;
    mc_periodic_step step;
    void *ctx;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool nudged, stopping;
};

bool mc_periodic_stopping(mc_periodic *p) {
    pthread_mutex_lock(&p->lock);
    bool s = p->stopping;
    pthread_mutex_unlock(&p->lock);
    return s;
}

struct timespec mc_deadline_after_ms(clockid_t clock, long ms) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static void wait_for_round(mc_periodic *p) {
    struct timespec until = mc_deadline_after_ms(CLOCK_REALTIME, p->interval_ms);
    pthread_mutex_lock(&p->lock);
    while (!p->nudged && !p->stopping)
        if (pthread_cond_timedwait(&p->wake, &p->lock, &until) != 0) break;
    p->nudged = false;
    pthread_mutex_unlock(&p->lock);
}

static void *periodic_main(void *arg) {
    mc_periodic *p = arg;
    mc_daemon_name_thread(p->name, NULL);
    while (!mc_periodic_stopping(p)) {
        while (p->step(p->ctx) > 0 && !mc_periodic_stopping(p)) continue;
        wait_for_round(p);
    }
    return NULL;
}

mc_periodic *mc_periodic_start(const char *name, long interval_ms, mc_periodic_step step,
                               void *ctx, mc_err *err) {
    mc_periodic *p = calloc(1, sizeof *p);
    if (!p) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory"), NULL;
    strncpy(p->name, name, sizeof p->name - 1);
    p->interval_ms = interval_ms > 0 ? interval_ms : 1000;
    p->step = step;
    p->ctx = ctx;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    if (pthread_create(&p->thread, NULL, periodic_main, p) != 0) {
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->wake);
        free(p);
        return mc_err_set(err, MC_ERR_INTERNAL, "cannot start the %s thread", name), NULL;
    }
    return p;
}

void mc_periodic_nudge(mc_periodic *p) {
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->nudged = true;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
}

void mc_periodic_stop(mc_periodic *p) {
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    free(p);
}
