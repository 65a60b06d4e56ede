/* config.h — every setting of mcloud, and where its value comes from.
 *
 * Precedence: environment variable > Redis config service > built-in default,
 * except for the settings a failover moves (managed: mysql.master,
 * mysql.replica), where the config service wins and the environment is only
 * the value used while the config service has none — an environment variable
 * must not pin a daemon to a dead master.
 * Each setting has a dotted name ("s3.endpoint"); its environment variable is
 * MCLOUD_ + the name upper-cased with dots as underscores (MCLOUD_S3_ENDPOINT)
 * and its Redis key is mcloud:config:<name>. Every default works on one
 * machine with scripts/stack.sh. The table in config.c is the documentation
 * (`mcloud-config --list` style tools print it). */
#ifndef MCLOUD_CONFIG_H
#define MCLOUD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

typedef enum mc_config_origin {
    MC_CONFIG_DEFAULT = 0,
    MC_CONFIG_REDIS,
    MC_CONFIG_ENV
} mc_config_origin;

typedef struct mc_setting {
    const char *name;
    const char *default_value;
    bool local_only;   /* never read from Redis (e.g. how to reach Redis itself) */
    const char *doc;
} mc_setting;

/* Looks a setting up in a remote source (Redis). Returns a malloc'd value, or
 * NULL when the source has none. */
typedef char *(*mc_config_lookup)(void *ctx, const char *name);

typedef struct mc_config mc_config;

/* The built-in table of settings, terminated by a zeroed entry. */
const mc_setting *mc_config_settings(void);
const mc_setting *mc_config_find_setting(const char *name);
/* Writes MCLOUD_S3_ENDPOINT for "s3.endpoint" into buf. */
void mc_config_env_name(const char *name, char *buf, size_t len);

/* Whether a failover moves the setting (mysql.master, mysql.replica): then
 * Redis > environment > default. */
bool mc_config_managed(const char *name);

/* Resolves every setting once: environment, then remote (may be NULL), then
 * the default. */
mc_config *mc_config_load(mc_config_lookup remote, void *remote_ctx);
void mc_config_free(mc_config *cfg);

/* The value in force; valid until mc_config_free (updates never free a value
 * a caller may still hold). NULL only for an unknown name. */
const char *mc_config_get(mc_config *cfg, const char *name);
/* Typed, validated reads; the error names the setting, its environment
 * variable and the value, ready to print at start-up. */
int mc_config_int(mc_config *cfg, const char *name, long min, long max, long *out, mc_err *err);
int mc_config_bool(mc_config *cfg, const char *name, bool *out, mc_err *err);
/* Copies the value into a fixed buffer; too long is an error, not a cut. */
int mc_config_copy(mc_config *cfg, const char *name, char *buf, size_t len, mc_err *err);
mc_config_origin mc_config_origin_of(mc_config *cfg, const char *name);
const char *mc_config_origin_name(mc_config_origin origin);

/* A change announced by the Redis config service. Ignored (returns false) when
 * the environment pins the setting (never a managed one, unless the change is
 * a deletion) or it is local-only; otherwise the new
 * value (NULL: back to the default) takes effect and true is returned. */
bool mc_config_apply_remote(mc_config *cfg, const char *name, const char *value);

#endif
