/* admin.c — `mcloud tenant` and `mcloud apikey` (see admin.h). A tenant is
 * made in MySQL directly (there is no tenant above it to ask); keys are
 * managed through the API like any app would, with the caller's admin key. */
#include "cli/admin.h"
#include "cli/api.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/apikey.h"
#include "common/mysql.h"
#include "common/token.h"

#define ALL_SCOPES "videos:read videos:write webhooks admin"

static int tenant_create(mc_config *cfg, const char *name, mc_err *err) {
    if (!mc_token_name_valid(name))
        return mc_err_set(err, MC_ERR_INVALID, "a tenant name is 1 to %d characters of "
                          "[A-Za-z0-9_-]: '%s'", MC_TOKEN_NAME_MAX, name);
    mc_db_config dc;
    if (mc_db_config_from(cfg, &dc, err) < 0) return -1;
    mc_db *db = mc_db_open(&dc, err);
    if (!db) return -1;
    int rc = mc_db_exec(db, MC_DB_MASTER, "INSERT INTO tenants (id, name) VALUES (?, ?)",
                        MC_DB_ARGS(mc_db_str(name), mc_db_str(name)), NULL, err);
    if (rc < 0 && err->kind == MC_ERR_CONFLICT)
        mc_err_set(err, MC_ERR_CONFLICT, "tenant '%s' exists already", name);
    mc_apikey_new k;
    if (rc == 0) rc = mc_apikey_create(db, name, "first admin key", ALL_SCOPES, &k, err);
    mc_db_close(db);
    if (rc < 0) return -1;
    fprintf(stderr, "tenant %s created; its first admin key (%s) is shown this once:\n", name, k.id);
    printf("%s\n", k.key);
    return 0;
}

static int apikey_create(int argc, char **argv, mc_err *err) {
    const char *name = "", *scopes = ALL_SCOPES;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) name = argv[++i];
        else if (strcmp(argv[i], "--scopes") == 0 && i + 1 < argc) scopes = argv[++i];
        else return 2;
    }
    json_t *body = json_object(), *list = json_array();
    char *copy = strdup(scopes), *save = NULL;
    for (char *s = strtok_r(copy, " ,", &save); s; s = strtok_r(NULL, " ,", &save))
        json_array_append_new(list, json_string(s));
    free(copy);
    json_object_set_new(body, "name", json_string(name));
    json_object_set_new(body, "scopes", list);
    json_t *out = NULL;
    int rc = mc_cli_api_call("POST", "/v1/api-keys", body, &out, err);
    json_decref(body);
    if (rc < 0) return -1;
    fprintf(stderr, "key %s created; its secret is shown this once:\n",
            json_string_value(json_object_get(out, "id")));
    printf("%s\n", json_string_value(json_object_get(out, "key")));
    json_decref(out);
    return 0;
}

static int apikey_list(mc_err *err) {
    json_t *out = NULL;
    if (mc_cli_api_call("GET", "/v1/api-keys", NULL, &out, err) < 0) return -1;
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(out, "data"), i, k) {
        char scopes[128] = "";
        size_t j;
        json_t *s;
        json_array_foreach(json_object_get(k, "scopes"), j, s) {
            strncat(scopes, j ? "," : "", sizeof scopes - strlen(scopes) - 1);
            strncat(scopes, json_string_value(s), sizeof scopes - strlen(scopes) - 1);
        }
        const char *revoked = json_string_value(json_object_get(k, "revoked_at"));
        printf("%-22s %-13s %-40s %s%s\n", json_string_value(json_object_get(k, "id")),
               json_string_value(json_object_get(k, "prefix")), scopes,
               revoked ? "revoked " : "active ", json_string_value(json_object_get(k, "name")));
    }
    json_decref(out);
    return 0;
}

int mc_cli_admin(mc_config *cfg, int argc, char **argv, mc_err *err) {
    if (strcmp(argv[0], "tenant") == 0) {
        if (argc != 3 || strcmp(argv[1], "create") != 0) return 2;
        return tenant_create(cfg, argv[2], err);
    }
    if (argc < 2) return 2;
    if (strcmp(argv[1], "create") == 0) return apikey_create(argc, argv, err);
    if (strcmp(argv[1], "list") == 0) return argc == 2 ? apikey_list(err) : 2;
    if (strcmp(argv[1], "revoke") == 0 && argc == 3) {
        if (strlen(argv[2]) > 64) return mc_err_set(err, MC_ERR_INVALID, "not a key id");
        char path[128];
        snprintf(path, sizeof path, "/v1/api-keys/%s", argv[2]);
        if (mc_cli_api_call("DELETE", path, NULL, NULL, err) < 0) return -1;
        fprintf(stderr, "key %s revoked\n", argv[2]);
        return 0;
    }
    return 2;
}
