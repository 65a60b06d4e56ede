/* cgroup.h — a container's resource use read from its cgroup: CPU time,
 * memory and pids, on cgroup v1 (this machine: one hierarchy per controller)
 * and v2 (a stock Debian 12: one unified hierarchy). The agent publishes it
 * on /metrics and in the node heartbeat. The /proc/<pid>/cgroup parser is
 * pure (unit tests). */
#ifndef MCLOUD_AGENT_CGROUP_H
#define MCLOUD_AGENT_CGROUP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct mc_cgroup_paths {
    bool v2;
    char unified[512];   /* v2: the path under /sys/fs/cgroup */
    char memory[512], cpuacct[512], pids[512];  /* v1: the path under each controller */
} mc_cgroup_paths;

typedef struct mc_cgroup_usage {
    double cpu_seconds;          /* CPU time used since the container started */
    long long memory_bytes;      /* memory charged now */
    long long pids;              /* tasks now */
} mc_cgroup_usage;

/* Parses the text of /proc/<pid>/cgroup; v2 when the host has a unified
 * hierarchy only. -1 when the controllers needed are missing. */
int mc_cgroup_parse(const char *text, bool v2, mc_cgroup_paths *out);
/* dir + cg + "/" + file into out when that file exists; else the same with
 * cg's leading components dropped one by one (0, or -1: none exists).
 * /proc/<pid>/cgroup names a path from the root of the reader's cgroup
 * namespace, while the hierarchy mounted at dir may start lower: inside a
 * container (the agent under nested podman, as in make fresh-check) the
 * mount is the container's own cgroup and the path of a container it
 * started carries the outer container's first. */
int mc_cgroup_locate(char *out, size_t cap, const char *dir, const char *cg, const char *file);
#define MC_CGROUP_FILE_MAX 640

/* The files a container's usage is read from, located once for its pid. */
typedef struct mc_cgroup_files {
    int pid;                     /* located for this process; 0: not located */
    bool v2;
    char memory[MC_CGROUP_FILE_MAX];        /* required */
    char cpu[MC_CGROUP_FILE_MAX];           /* cpu.stat (v2) or cpuacct.usage (v1); "": none */
    char pids[MC_CGROUP_FILE_MAX];          /* "": none */
} mc_cgroup_files;

/* Locates the files of the process pid's cgroup under root ("/sys/fs/cgroup"). */
int mc_cgroup_find(const char *root, int pid, mc_cgroup_files *out);
/* Reads the usage from located files; -1 when the memory file cannot be read. */
int mc_cgroup_read_files(const mc_cgroup_files *files, mc_cgroup_usage *out);
/* Reads the usage of the process pid's cgroup under root, locating its
 * files only when cache holds another pid's or reading them failed (the
 * agent reads every container every round: /proc/<pid>/cgroup and the
 * directory walk once per container, not once a second). */
int mc_cgroup_read(const char *root, int pid, mc_cgroup_files *cache, mc_cgroup_usage *out);

#endif
