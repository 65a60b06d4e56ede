/* apikey.h — the tenants' API keys (mcloud-api and `mcloud tenant create`).
 *
 * A key is "mck_" + 32 base64url characters (24 random bytes). Only its
 * SHA-256 (hex) is stored, in api_keys.key_hash; key_prefix (its first 12
 * characters) is safe to show in listings. Scopes are stored as
 * space-separated names. */
#ifndef MCLOUD_APIKEY_H
#define MCLOUD_APIKEY_H

#include <stddef.h>

#include "common/error.h"
#include "common/mysql.h"

#define MC_APIKEY_PREFIX "mck_"
#define MC_APIKEY_LEN 36         /* "mck_" + 32 */
#define MC_APIKEY_SHOWN 12       /* characters kept as key_prefix */
#define MC_APIKEY_ID_LEN 20      /* "key_" + 16 hex */

/* SHA-256 of key[0..len) as 64 lowercase hex digits + NUL. */
void mc_apikey_hash(const char *key, size_t len, char hex[65]);

typedef struct mc_apikey_new {
    char id[MC_APIKEY_ID_LEN + 1];
    char key[MC_APIKEY_LEN + 1];           /* the secret: shown once */
    char prefix[MC_APIKEY_SHOWN + 1];
} mc_apikey_new;

/* Makes a key and stores its row for tenant (scopes: space-separated). */
int mc_apikey_create(mc_db *db, const char *tenant, const char *name, const char *scopes,
                     mc_apikey_new *out, mc_err *err);

#endif
