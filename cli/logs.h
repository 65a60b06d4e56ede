/* logs.h — `mcloud logs` (every node's container lines, from Kafka) and
 * `mcloud kafka partitions`, the operator commands that talk to Kafka
 * itself rather than to mcloud-orchestrator. */
#ifndef MCLOUD_CLI_LOGS_H
#define MCLOUD_CLI_LOGS_H

/* `mcloud logs ...`; returns the exit status (0, 1 failure, 2 usage). */
int mc_cli_logs(int argc, char **argv);
/* `mcloud kafka partitions TOPIC N`. */
int mc_cli_kafka(int argc, char **argv);
void mc_cli_logs_usage(void);

#endif
