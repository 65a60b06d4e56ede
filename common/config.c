/* config.c — the settings table and precedence resolution (see config.h).
 *
 * Values are resolved once at start and then changed only by announcements
 * from the Redis config service. A changed value is appended to a list that
 * lives as long as the config, so a pointer handed out earlier stays valid. */
#include "common/config.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const mc_setting settings[] = {
    {"log.level", "info", false, "Lowest log level written: debug, info, warn or error."},
    {"http.bind", "127.0.0.1", true, "Address the daemon's HTTP server listens on."},
    {"redis", "127.0.0.1:16379", true, "Redis host:port (config service, registry, locks)."},
    {"redis.password", "", true, "Redis password; empty for none."},
    {"kafka", "127.0.0.1:19092", false, "Kafka bootstrap servers (comma-separated host:port)."},
    {"mysql.master", "127.0.0.1:13306", false, "MariaDB master host:port (all writes)."},
    {"mysql.replica", "127.0.0.1:13307", false, "MariaDB replica host:port (reads; empty: read from the master)."},
    {"mysql.user", "mcloud", false, "MariaDB user."},
    {"mysql.password", "mcloud-dev-password", false, "MariaDB password."},
    {"mysql.database", "mcloud", false, "MariaDB database."},
    {"mysql.pool_size", "4", false, "Connections per MariaDB server in each process."},
    {"s3.endpoint", "http://127.0.0.1:19000", false, "S3 endpoint URL."},
    {"s3.region", "us-east-1", false, "S3 region used in SigV4 signatures."},
    {"s3.bucket", "mcloud", false, "Bucket holding uploads, sources and renditions."},
    {"s3.access_key", "mcloud", false, "S3 access key id."},
    {"s3.secret_key", "mcloud-dev-secret-key", false, "S3 secret access key."},
    {"s3.path_style", "true", false, "Path-style URLs (true) or virtual-host style (false)."},
    {"registry.ttl_ms", "10000", false, "Service registry entry TTL; heartbeats every third of it."},
    {"token.key_id", "dev", false, "Key id of the secret that signs bearer tokens (common/token.h)."},
    {"token.secret", "mcloud-dev-token-secret", true, "HMAC secret signing bearer tokens; at least 16 bytes."},
    {NULL, NULL, false, NULL},
};

typedef struct retired_value {
    char *value;
    struct retired_value *next;
} retired_value;

struct mc_config {
    pthread_mutex_t lock;
    size_t count;
    char **values;               /* owned; one per setting */
    mc_config_origin *origins;
    retired_value *retired;      /* earlier values, kept valid until free */
};

const mc_setting *mc_config_settings(void) { return settings; }

static long setting_index(const char *name) {
    for (long i = 0; settings[i].name; i++)
        if (strcmp(settings[i].name, name) == 0) return i;
    return -1;
}

const mc_setting *mc_config_find_setting(const char *name) {
    long i = setting_index(name);
    return i < 0 ? NULL : &settings[i];
}

void mc_config_env_name(const char *name, char *buf, size_t len) {
    size_t n = (size_t)snprintf(buf, len, "MCLOUD_");
    for (const char *p = name; *p && n + 1 < len; p++)
        buf[n++] = (*p == '.' || *p == '-') ? '_' : (char)toupper((unsigned char)*p);
    if (n < len) buf[n] = '\0';
}

static char *env_value(const char *name) {
    char env[128];
    mc_config_env_name(name, env, sizeof env);
    const char *v = getenv(env);
    return v ? strdup(v) : NULL;
}

mc_config *mc_config_load(mc_config_lookup remote, void *remote_ctx) {
    mc_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg) return NULL;
    pthread_mutex_init(&cfg->lock, NULL);
    while (settings[cfg->count].name) cfg->count++;
    cfg->values = calloc(cfg->count, sizeof *cfg->values);
    cfg->origins = calloc(cfg->count, sizeof *cfg->origins);
    if (!cfg->values || !cfg->origins) {
        mc_config_free(cfg);
        return NULL;
    }
    for (size_t i = 0; i < cfg->count; i++) {
        const mc_setting *s = &settings[i];
        char *v = env_value(s->name);
        mc_config_origin origin = MC_CONFIG_ENV;
        if (!v && remote && !s->local_only) {
            v = remote(remote_ctx, s->name);
            origin = MC_CONFIG_REDIS;
        }
        if (!v) {
            v = strdup(s->default_value);
            origin = MC_CONFIG_DEFAULT;
        }
        cfg->values[i] = v;
        cfg->origins[i] = origin;
    }
    return cfg;
}

void mc_config_free(mc_config *cfg) {
    if (!cfg) return;
    if (cfg->values)
        for (size_t i = 0; i < cfg->count; i++) free(cfg->values[i]);
    free(cfg->values);
    free(cfg->origins);
    for (retired_value *r = cfg->retired, *next; r; r = next) {
        next = r->next;
        free(r->value);
        free(r);
    }
    pthread_mutex_destroy(&cfg->lock);
    free(cfg);
}

const char *mc_config_get(mc_config *cfg, const char *name) {
    long i = setting_index(name);
    if (i < 0) return NULL;
    pthread_mutex_lock(&cfg->lock);
    const char *v = cfg->values[i];
    pthread_mutex_unlock(&cfg->lock);
    return v;
}

long mc_config_get_long(mc_config *cfg, const char *name) {
    const char *v = mc_config_get(cfg, name);
    return v ? strtol(v, NULL, 10) : 0;
}

bool mc_config_get_bool(mc_config *cfg, const char *name) {
    const char *v = mc_config_get(cfg, name);
    return v && (strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
                 strcasecmp(v, "on") == 0 || strcmp(v, "1") == 0);
}

mc_config_origin mc_config_origin_of(mc_config *cfg, const char *name) {
    long i = setting_index(name);
    if (i < 0) return MC_CONFIG_DEFAULT;
    pthread_mutex_lock(&cfg->lock);
    mc_config_origin o = cfg->origins[i];
    pthread_mutex_unlock(&cfg->lock);
    return o;
}

const char *mc_config_origin_name(mc_config_origin origin) {
    switch (origin) {
    case MC_CONFIG_ENV: return "env";
    case MC_CONFIG_REDIS: return "redis";
    case MC_CONFIG_DEFAULT: return "default";
    }
    return "unknown";
}

bool mc_config_apply_remote(mc_config *cfg, const char *name, const char *value) {
    long i = setting_index(name);
    if (i < 0 || settings[i].local_only) return false;
    char *fresh = strdup(value ? value : settings[i].default_value);
    retired_value *r = malloc(sizeof *r);
    if (!fresh || !r) {
        free(fresh);
        free(r);
        return false;
    }
    pthread_mutex_lock(&cfg->lock);
    if (cfg->origins[i] == MC_CONFIG_ENV) {
        pthread_mutex_unlock(&cfg->lock);
        free(fresh);
        free(r);
        return false;
    }
    r->value = cfg->values[i];
    r->next = cfg->retired;
    cfg->retired = r;
    cfg->values[i] = fresh;
    cfg->origins[i] = value ? MC_CONFIG_REDIS : MC_CONFIG_DEFAULT;
    pthread_mutex_unlock(&cfg->lock);
    return true;
}

int mc_config_split_hostport(const char *addr, char *host, size_t hostlen, int *port,
                             int default_port, mc_err *err) {
    if (!addr || !*addr) return mc_err_set(err, MC_ERR_INVALID, "empty address");
    const char *colon = strrchr(addr, ':');
    size_t hlen = colon ? (size_t)(colon - addr) : strlen(addr);
    if (hlen == 0 || hlen >= hostlen)
        return mc_err_set(err, MC_ERR_INVALID, "bad host in address '%s'", addr);
    memcpy(host, addr, hlen);
    host[hlen] = '\0';
    if (!colon) {
        *port = default_port;
        return 0;
    }
    char *end = NULL;
    long p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || p < 1 || p > 65535)
        return mc_err_set(err, MC_ERR_INVALID, "bad port in address '%s'", addr);
    *port = (int)p;
    return 0;
}
