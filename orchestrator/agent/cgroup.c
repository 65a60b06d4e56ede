/* cgroup.c — a container's CPU, memory and pids from its cgroup (see
 * cgroup.h): v1 reads memory.usage_in_bytes, cpuacct.usage (ns) and
 * pids.current under each controller; v2 reads memory.current, cpu.stat's
 * usage_usec and pids.current in the unified hierarchy. */
#include "orchestrator/agent/cgroup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fdio.h"

static bool has_controller(const char *list, size_t len, const char *name) {
    size_t n = strlen(name);
    const char *p = list, *end = list + len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        size_t l = comma ? (size_t)(comma - p) : (size_t)(end - p);
        if (l == n && memcmp(p, name, n) == 0) return true;
        p += l + 1;
    }
    return false;
}

static void set_path(char *dst, size_t cap, const char *p, size_t len) {
    if (len >= cap) len = cap - 1;
    memcpy(dst, p, len);
    dst[len] = '\0';
}

int mc_cgroup_parse(const char *text, bool v2, mc_cgroup_paths *out) {
    memset(out, 0, sizeof *out);
    out->v2 = v2;
    const char *line = text;
    while (line && *line) {
        const char *nl = strchr(line, '\n');
        const char *end = nl ? nl : line + strlen(line);
        const char *c1 = memchr(line, ':', (size_t)(end - line));
        const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
        if (c2) {
            const char *ctl = c1 + 1, *path = c2 + 1;
            size_t ctl_len = (size_t)(c2 - ctl), path_len = (size_t)(end - path);
            if (ctl_len == 0 && line[0] == '0') set_path(out->unified, sizeof out->unified, path, path_len);
            if (has_controller(ctl, ctl_len, "memory")) set_path(out->memory, sizeof out->memory, path, path_len);
            if (has_controller(ctl, ctl_len, "cpuacct")) set_path(out->cpuacct, sizeof out->cpuacct, path, path_len);
            if (has_controller(ctl, ctl_len, "pids")) set_path(out->pids, sizeof out->pids, path, path_len);
        }
        line = nl ? nl + 1 : NULL;
    }
    if (v2) return out->unified[0] ? 0 : -1;
    return out->memory[0] && out->cpuacct[0] && out->pids[0] ? 0 : -1;
}

static int read_ll(const char *path, long long *out) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int ok = fscanf(f, "%lld", out) == 1;
    fclose(f);
    return ok ? 0 : -1;
}

int mc_cgroup_locate(char *out, size_t cap, const char *dir, const char *cg, const char *file) {
    if (!cg || !*cg) cg = "/";
    for (const char *p = cg; p && *p; p = strchr(p + 1, '/')) {
        if ((size_t)snprintf(out, cap, "%s%s/%s", dir, p, file) >= cap) return -1;
        if (access(out, R_OK) == 0) return 0;
    }
    return -1;
}

/* One controller's file under root/controller ("" controller: root). */
static int locate_under(char *out, const char *root, const char *controller, const char *cg, const char *file) {
    char dir[MC_CGROUP_FILE_MAX];
    snprintf(dir, sizeof dir, "%s%s%s", root, controller[0] ? "/" : "", controller);
    if (mc_cgroup_locate(out, MC_CGROUP_FILE_MAX, dir, cg, file) == 0) return 0;
    out[0] = '\0';
    return -1;
}

int mc_cgroup_find(const char *root, int pid, mc_cgroup_files *out) {
    memset(out, 0, sizeof *out);
    char path[MC_CGROUP_FILE_MAX];
    snprintf(path, sizeof path, "/proc/%d/cgroup", pid);
    size_t len;
    char *text = mc_read_file(path, 64 * 1024, &len, NULL);
    if (!text) return -1;
    snprintf(path, sizeof path, "%s/cgroup.controllers", root);
    bool v2 = access(path, F_OK) == 0;
    mc_cgroup_paths p;
    int rc = mc_cgroup_parse(text, v2, &p);
    free(text);
    if (rc < 0) return -1;
    out->v2 = v2;
    if (v2) {
        if (locate_under(out->memory, root, "", p.unified, "memory.current") < 0) return -1;
        locate_under(out->pids, root, "", p.unified, "pids.current");
        locate_under(out->cpu, root, "", p.unified, "cpu.stat");
    } else {
        if (locate_under(out->memory, root, "memory", p.memory, "memory.usage_in_bytes") < 0) return -1;
        locate_under(out->pids, root, "pids", p.pids, "pids.current");
        locate_under(out->cpu, root, "cpuacct", p.cpuacct, "cpuacct.usage");
    }
    out->pid = pid;
    return 0;
}

/* v2's cpu.stat: usage_usec among "key value" lines. */
static void read_cpu_stat(const char *path, double *seconds) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    char key[64];
    long long v;
    while (fscanf(f, "%63s %lld", key, &v) == 2)
        if (strcmp(key, "usage_usec") == 0) *seconds = v / 1e6;
    fclose(f);
}

int mc_cgroup_read_files(const mc_cgroup_files *files, mc_cgroup_usage *out) {
    memset(out, 0, sizeof *out);
    if (read_ll(files->memory, &out->memory_bytes) < 0) return -1;
    if (files->pids[0]) read_ll(files->pids, &out->pids);
    long long ns;
    if (files->cpu[0] && files->v2) read_cpu_stat(files->cpu, &out->cpu_seconds);
    else if (files->cpu[0] && read_ll(files->cpu, &ns) == 0) out->cpu_seconds = ns / 1e9;
    return 0;
}

int mc_cgroup_read(const char *root, int pid, mc_cgroup_files *cache, mc_cgroup_usage *out) {
    if (cache->pid == pid && mc_cgroup_read_files(cache, out) == 0) return 0;
    if (mc_cgroup_find(root, pid, cache) < 0) {
        cache->pid = 0;
        memset(out, 0, sizeof *out);
        return -1;
    }
    return mc_cgroup_read_files(cache, out);
}
