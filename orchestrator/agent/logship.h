/* logship.h — the agent's log shipper (logship.c): every container's lines
 * to the Kafka topic logs.topic (mcloud.logs), without ever holding up a
 * container or the supervisor. */
#ifndef MCLOUD_AGENT_LOGSHIP_H
#define MCLOUD_AGENT_LOGSHIP_H

#include "common/docker.h"
#include "common/error.h"

typedef struct mc_agent mc_agent;
typedef struct mc_logship mc_logship;

/* Reads logs.topic, logs.retention_hours, logs.buffer_lines and kafka from
 * the agent's settings and starts the shipper's thread. Kafka need not be
 * up: the topic is made (with its retention) once it answers. */
mc_logship *mc_logship_start(mc_agent *a, mc_err *err);
/* Flushes what it can for a moment, drops the rest (counted) and frees. */
void mc_logship_stop(mc_logship *ls);
/* Ships the last lines of a container about to be removed (dead, or
 * stopped), on the caller's engine client: the lines written just before a
 * SIGKILL are not lost with the container. Never waits for Kafka. */
void mc_logship_drain(mc_logship *ls, mc_docker *engine, const char *container_id, const char *service,
                      const char *instance);

#endif
