/* kafka_topics.c — deletes the Kafka topics a test created for itself, so a
 * test stops what it started: a broker restarted later (the fault suite
 * restarts the stack's) loads every partition it holds, and the private
 * topics of earlier runs slowed that from seconds to minutes.
 *
 * usage: mcloud-test-kafka-topics delete TOPIC...   (broker: $MCLOUD_KAFKA)
 * A topic that does not exist is not an error. Exit 0 when every topic is
 * gone, 1 otherwise (each failure on stderr), 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kafka.h"

int main(int argc, char **argv) {
    const char *bootstrap = getenv("MCLOUD_KAFKA");
    if (argc < 3 || strcmp(argv[1], "delete") != 0 || !bootstrap || !*bootstrap) {
        fprintf(stderr, "usage: MCLOUD_KAFKA=host:port %s delete TOPIC...\n", argv[0]);
        return 2;
    }
    mc_kafka_config cfg = {.bootstrap_servers = bootstrap, .client_id = "mcloud-test-topics"};
    int rc = 0;
    for (int i = 2; i < argc; i++) {
        mc_err err = {0};
        if (mc_kafka_delete_topic(&cfg, argv[i], 30000, &err) < 0) {
            fprintf(stderr, "deleting topic %s: %s\n", argv[i], err.msg);
            rc = 1;
        }
    }
    return rc;
}
