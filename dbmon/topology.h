/* topology.h — the decisions of mcloud-dbmon, the MariaDB failover monitor,
 * as pure functions of what it observed (no I/O: unit-tested).
 *
 * The monitor observes every configured server each round (reachable?
 * read_only? replicating from where, IO thread state, GTID positions) and
 * asks dbmon_judge() about the published master (mysql.master in the config
 * service). A master is declared dead only when the monitor could not reach
 * it for dead_after_ms AND no reachable replica's IO thread is still
 * connected to it: a blip between the monitor and the master alone never
 * causes a failover. The candidate is the replica that received the most
 * (Gtid_IO_Pos): with semi-sync AFTER_SYNC every acknowledged transaction is
 * in at least one replica's relay log, so the most advanced one has them
 * all. */
#ifndef MCLOUD_DBMON_TOPOLOGY_H
#define MCLOUD_DBMON_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>

#define DBMON_ADDR_MAX 256
#define DBMON_GTID_MAX 512
#define DBMON_MAX_SERVERS 8

typedef struct dbmon_server {
    char addr[DBMON_ADDR_MAX];          /* "host:port" as configured */
    bool reachable;
    bool read_only;
    char master_addr[DBMON_ADDR_MAX];   /* Master_Host:Master_Port; "" if not a replica */
    bool io_running;                    /* Slave_IO_Running = Yes (connected) */
    bool sql_running;
    int io_errno;                       /* Last_IO_Errno */
    char gtid_io[DBMON_GTID_MAX];       /* Gtid_IO_Pos: received into the relay log */
    char gtid_current[DBMON_GTID_MAX];  /* @@gtid_current_pos: applied or written */
    int acks_awaited;                   /* commits waiting for a semi-sync ack */
} dbmon_server;

typedef enum dbmon_verdict {
    DBMON_MASTER_OK = 0,   /* reachable, or no master published */
    DBMON_MASTER_SUSPECT,  /* unreachable, but not long enough or a replica still sees it */
    DBMON_MASTER_DEAD,     /* fail over to *candidate */
    DBMON_NO_CANDIDATE,    /* dead, but no reachable replica of it to promote */
    DBMON_MASTER_MAINTENANCE /* down on purpose (set by the monitor, never by dbmon_judge) */
} dbmon_verdict;

typedef struct dbmon_view {
    const dbmon_server *servers;
    size_t n;
    int master;            /* index of the published master, -1 if none is known */
    long unreachable_ms;   /* how long the master has been unreachable */
    long dead_after_ms;
} dbmon_view;

dbmon_verdict dbmon_judge(const dbmon_view *v, int *candidate);
const char *dbmon_verdict_name(dbmon_verdict v);

/* The server acting as master although the published one is another:
 * reachable, writable, and replicated from by at least one reachable
 * server. Returns its index, or -1. Used when the published master is
 * unreachable: a Redis failover may have lost the last mysql.master write
 * (Redis replicates asynchronously), so the monitor re-announces it. */
int dbmon_acting_master(const dbmon_view *v);

/* GTID position lists ("0-1-42,1-2-7"), compared domain by domain. */
typedef enum dbmon_gtid_order {
    DBMON_GTID_EQUAL = 0,
    DBMON_GTID_BEHIND,     /* a is a strict prefix of b's history */
    DBMON_GTID_AHEAD,
    DBMON_GTID_DIVERGED,   /* each has something the other lacks, or unparsable */
} dbmon_gtid_order;

dbmon_gtid_order dbmon_gtid_compare(const char *a, const char *b);

/* Whether a reachable server other than the master must be fenced and
 * re-attached to master_addr: writable, or replicating from elsewhere, or
 * not replicating. why names the reason. */
bool dbmon_needs_rejoin(const dbmon_server *s, const char *master_addr, const char **why);
/* Whether a server's replication was refused by its master because it holds
 * transactions the master never had (IO error 1236): never merged, an
 * operator must rebuild it. */
bool dbmon_diverged(const dbmon_server *s);

#endif
