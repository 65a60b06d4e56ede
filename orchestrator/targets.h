/* targets.h — the Prometheus file_sd target list of the platform: every
 * reported instance's /metrics (the services serve it on their own port)
 * as {"targets": ["<node's host>:<port>"], "labels": {"service", "instance",
 * "node"}}, sorted so the same cluster gives the same text. Pure: the
 * daemon (scrape.c) writes it where orchestrator.prometheus_sd_file says,
 * whenever it changes, and Prometheus (file_sd_configs) follows the file. */
#ifndef MCLOUD_ORCH_TARGETS_H
#define MCLOUD_ORCH_TARGETS_H

#include "orchestrator/plan.h"

/* The file's text (malloc'd). An instance without a port, or on a node
 * absent from nodes, is left out. */
char *mc_targets_file_sd(const mc_node *nodes, int nnodes, const mc_report *reports, int nreports);

#endif
