/* s3_pool.h — a small pool of S3 handles for a daemon's threads.
 *
 * An mc_s3 handle is single-threaded and keeps one connection alive; threads
 * come and go (a thread per HTTP connection, a thread per transcoding rung),
 * so each borrows a handle for the length of a request or an object and
 * gives it back, keeping connections warm without one handle per thread
 * ever created. */
#ifndef MCLOUD_S3_POOL_H
#define MCLOUD_S3_POOL_H

#include "common/error.h"
#include "common/s3.h"

typedef struct mc_s3_pool mc_s3_pool;

/* NULL when out of memory. */
mc_s3_pool *mc_s3_pool_new(const mc_s3_config *cfg);
/* An idle handle, or a new one. */
mc_s3 *mc_s3_pool_get(mc_s3_pool *p, mc_err *err);
/* Keeps s3 for the next borrower (NULL is ignored). */
void mc_s3_pool_put(mc_s3_pool *p, mc_s3 *s3);
void mc_s3_pool_free(mc_s3_pool *p);

#endif
