/* admin.h — the operator's and the tenant admin's commands:
 *   mcloud tenant create NAME     a tenant (MySQL, an operator's command) and
 *                                 its first admin key, printed once
 *   mcloud apikey create [--name N] [--scopes "videos:read ..."]
 *   mcloud apikey list
 *   mcloud apikey revoke KEY_ID   through mcloud-api with MCLOUD_API_KEY */
#ifndef MC_CLI_ADMIN_H
#define MC_CLI_ADMIN_H

#include "common/config.h"
#include "common/error.h"

/* argv[0] is "tenant" or "apikey". Returns 0, -1 with err, or 2 for a usage error. */
int mc_cli_admin(mc_config *cfg, int argc, char **argv, mc_err *err);

#endif
