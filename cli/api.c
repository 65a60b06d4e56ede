/* api.c — the command line's requests to mcloud-api (see api.h), on
 * common/curl_body's mc_curl_perform. */
#include "cli/api.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/curl_body.h"

static const char *setting(const char *name, mc_err *err) {
    const char *v = getenv(name);
    if (v && *v) return v;
    mc_err_set(err, MC_ERR_INVALID, "%s is not set: the command line talks to mcloud-api with "
               "MCLOUD_API_URL and MCLOUD_API_KEY (eval \"$(scripts/stack.sh env)\", or "
               "`mcloud tenant create NAME` prints a key)", name);
    return NULL;
}

static int kind_of(long status) {
    return status == 404 ? MC_ERR_NOT_FOUND : status == 409 ? MC_ERR_CONFLICT
           : status == 429 || status >= 500 ? MC_ERR_UNAVAILABLE : MC_ERR_REMOTE;
}

int mc_cli_api_call(const char *method, const char *path, json_t *body, json_t **out, mc_err *err) {
    if (out) *out = NULL;
    const char *base = setting("MCLOUD_API_URL", err), *key = base ? setting("MCLOUD_API_KEY", err) : NULL;
    if (!key) return -1;
    char url[1024], auth[256];
    snprintf(url, sizeof url, "%s%s", base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    const char *headers[] = {auth, "Content-Type: application/json", NULL};
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL, *answer = NULL;
    long status = 0;
    mc_curl_request r = {.method = method, .url = url, .headers = headers, .body = text, .timeout_ms = 30000};
    int sent = mc_curl_perform(&r, &status, &answer, err);
    free(text);
    if (sent < 0) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        return mc_err_set(err, MC_ERR_UNAVAILABLE, "%s %s: %s (is mcloud-api running at "
                          "MCLOUD_API_URL=%s?)", method, path, why, base);
    }
    json_t *doc = answer && *answer ? json_loads(answer, 0, NULL) : NULL;
    free(answer);
    int rc = 0;
    if (status >= 400) {
        const char *d = json_string_value(json_object_get(doc, "detail"));
        rc = mc_err_set(err, kind_of(status), "%s %s answered %ld: %s", method, path, status,
                        d ? d : "(no detail)");
    } else if (!doc && status != 204) {
        rc = mc_err_set(err, MC_ERR_REMOTE, "%s %s answered %ld without JSON (is MCLOUD_API_URL=%s "
                        "mcloud-api?)", method, path, status, base);
    }
    if (rc < 0 || !out) json_decref(doc);
    else *out = doc;
    return rc;
}
