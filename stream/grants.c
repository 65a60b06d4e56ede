/* grants.c — verified playback credentials by what they were verified for
 * (see grants.h): a fixed table indexed by a hash of the whole key, one
 * lock. */
#include "stream/grants.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 4096
#define KEY_MAX 448 /* credential (< 160) + tenant (64) + video (36) + path (< 64) + separators */

typedef struct grant {
    char key[KEY_MAX];
    int64_t exp; /* 0: empty */
} grant;

struct mc_grants {
    pthread_mutex_t lock;
    grant slots[SLOTS];
};

mc_grants *mc_grants_new(void) {
    mc_grants *g = calloc(1, sizeof *g);
    if (g) pthread_mutex_init(&g->lock, NULL);
    return g;
}

void mc_grants_free(mc_grants *g) {
    if (!g) return;
    pthread_mutex_destroy(&g->lock);
    free(g);
}

/* The key, or false when the parts do not fit (such a grant is never kept). */
static bool grant_key(char out[KEY_MAX], const char *cred, const char *tenant, const char *video,
                      const char *path) {
    int n = snprintf(out, KEY_MAX, "%s\n%s\n%s\n%s", cred, tenant, video, path);
    return n > 0 && n < KEY_MAX;
}

static grant *slot_of(mc_grants *g, const char *key) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const char *p = key; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return &g->slots[h % SLOTS];
}

bool mc_grants_known(mc_grants *g, const char *cred, const char *tenant, const char *video,
                     const char *path, int64_t now) {
    char key[KEY_MAX];
    if (!grant_key(key, cred, tenant, video, path)) return false;
    pthread_mutex_lock(&g->lock);
    grant *s = slot_of(g, key);
    bool known = s->exp > now && strcmp(s->key, key) == 0;
    pthread_mutex_unlock(&g->lock);
    return known;
}

void mc_grants_remember(mc_grants *g, const char *cred, const char *tenant, const char *video,
                        const char *path, int64_t exp) {
    char key[KEY_MAX];
    if (!grant_key(key, cred, tenant, video, path)) return;
    pthread_mutex_lock(&g->lock);
    grant *s = slot_of(g, key);
    memcpy(s->key, key, sizeof key);
    s->exp = exp;
    pthread_mutex_unlock(&g->lock);
}
