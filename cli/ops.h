/* ops.h — the operator commands of `mcloud` (ps, nodes, scale, deploy,
 * rollout, drain, logs, status, resources), clients of mcloud-orchestrator's API. */
#ifndef MCLOUD_CLI_OPS_H
#define MCLOUD_CLI_OPS_H

#include <stdbool.h>

bool mc_cli_is_ops(const char *cmd);
/* Runs `mcloud CMD ...`; returns the exit status (0, 1 failure, 2 usage). */
int mc_cli_ops(int argc, char **argv);
void mc_cli_ops_usage(void);

#endif
