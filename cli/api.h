/* api.h — the command line's one client of mcloud-api: a request with the
 * key MCLOUD_API_KEY to MCLOUD_API_URL (printed by `scripts/stack.sh env`),
 * its JSON answer, and a refused request as an error carrying the problem's
 * detail. Used by upload/wait/play/publish (main.c, video.c) and by the
 * apikey commands (admin.c). */
#ifndef MC_CLI_API_H
#define MC_CLI_API_H

#include <jansson.h>

#include "common/error.h"

/* One call; *out is the parsed answer (NULL for 204; out may be NULL). A
 * missing setting is MC_ERR_INVALID naming it; an unreachable API names
 * MCLOUD_API_URL; a 4xx/5xx is an error with the status and the problem's
 * detail: 404 MC_ERR_NOT_FOUND, 409 MC_ERR_CONFLICT, 429/5xx
 * MC_ERR_UNAVAILABLE (worth a retry), others MC_ERR_REMOTE. */
int mc_cli_api_call(const char *method, const char *path, json_t *body, json_t **out, mc_err *err);

#endif
