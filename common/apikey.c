/* apikey.c — API keys made from OpenSSL's random bytes and kept as SHA-256
 * hashes (see apikey.h). */
#include "common/apikey.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "common/base64.h"

void mc_apikey_hash(const char *key, size_t len, char hex[65]) {
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(key, len, md, &mdlen, EVP_sha256(), NULL);
    for (size_t i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

int mc_apikey_create(mc_db *db, const char *tenant, const char *name, const char *scopes,
                     mc_apikey_new *out, mc_err *err) {
    unsigned char secret[24], idbytes[8];
    if (RAND_bytes(secret, sizeof secret) != 1 || RAND_bytes(idbytes, sizeof idbytes) != 1)
        return mc_err_set(err, MC_ERR_INTERNAL, "no random bytes for a key");
    memcpy(out->key, MC_APIKEY_PREFIX, 4);
    mc_base64url_encode(secret, sizeof secret, out->key + 4);
    out->key[MC_APIKEY_LEN] = '\0';
    memcpy(out->prefix, out->key, MC_APIKEY_SHOWN);
    out->prefix[MC_APIKEY_SHOWN] = '\0';
    memcpy(out->id, "key_", 4);
    for (size_t i = 0; i < sizeof idbytes; i++) snprintf(out->id + 4 + 2 * i, 3, "%02x", idbytes[i]);
    char hash[65];
    mc_apikey_hash(out->key, MC_APIKEY_LEN, hash);
    return mc_db_exec(db, MC_DB_MASTER,
                      "INSERT INTO api_keys (id, tenant_id, key_prefix, key_hash, scopes, name) "
                      "VALUES (?, ?, ?, ?, ?, ?)",
                      MC_DB_ARGS(mc_db_str(out->id), mc_db_str(tenant), mc_db_str(out->prefix),
                                 mc_db_str(hash), mc_db_str(scopes), mc_db_str(name ? name : "")),
                      NULL, err);
}
