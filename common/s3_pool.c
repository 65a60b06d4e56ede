/* s3_pool.c — a small pool of S3 handles shared by a daemon's threads (see
 * s3_pool.h). */
#include <pthread.h>
#include <stdlib.h>

#include "common/s3_pool.h"

#define POOL_KEEP 64

struct mc_s3_pool {
    pthread_mutex_t lock;
    mc_s3_config cfg;
    mc_s3 *idle[POOL_KEEP];
    size_t n;
};

mc_s3_pool *mc_s3_pool_new(const mc_s3_config *cfg) {
    mc_s3_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    pthread_mutex_init(&p->lock, NULL);
    p->cfg = *cfg;
    return p;
}

mc_s3 *mc_s3_pool_get(mc_s3_pool *p, mc_err *err) {
    pthread_mutex_lock(&p->lock);
    mc_s3 *s3 = p->n ? p->idle[--p->n] : NULL;
    pthread_mutex_unlock(&p->lock);
    return s3 ? s3 : mc_s3_new(&p->cfg, err);
}

void mc_s3_pool_put(mc_s3_pool *p, mc_s3 *s3) {
    if (!s3) return;
    pthread_mutex_lock(&p->lock);
    if (p->n < POOL_KEEP) {
        p->idle[p->n++] = s3;
        s3 = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    mc_s3_free(s3);
}

void mc_s3_pool_free(mc_s3_pool *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) mc_s3_free(p->idle[i]);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
