/* Unit tests for the agent's /proc/<pid>/cgroup parser: cgroup v1 with
 * separate or joined controllers, and v2's unified line; locating the files
 * once per pid and reading them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "orchestrator/agent/cgroup.h"

/* A parsed CPU time in whole microseconds (the files' own resolution or
 * finer), so the parser's result is compared exactly. */
static long long usec(double seconds) { return (long long)(seconds * 1e6 + 0.5); }

static void v1_separate_controllers(void **state) {
    (void)state;
    const char *t = "12:pids:/libpod_parent/libpod-abc\n4:memory:/libpod_parent/libpod-abc\n"
                    "2:cpuacct:/libpod_parent/libpod-abc\n1:cpu:/libpod_parent/libpod-abc\n0::/libpod_parent/libpod-abc\n";
    mc_cgroup_paths p;
    assert_int_equal(mc_cgroup_parse(t, false, &p), 0);
    assert_string_equal(p.memory, "/libpod_parent/libpod-abc");
    assert_string_equal(p.cpuacct, "/libpod_parent/libpod-abc");
    assert_string_equal(p.pids, "/libpod_parent/libpod-abc");
}

static void v1_joined_controllers(void **state) {
    (void)state;
    const char *t = "5:cpu,cpuacct:/docker/x\n3:memory:/docker/x\n2:pids:/docker/x";
    mc_cgroup_paths p;
    assert_int_equal(mc_cgroup_parse(t, false, &p), 0);
    assert_string_equal(p.cpuacct, "/docker/x");
    assert_string_equal(p.pids, "/docker/x"); /* last line without a newline */
}

static void v2_unified(void **state) {
    (void)state;
    mc_cgroup_paths p;
    assert_int_equal(mc_cgroup_parse("0::/system.slice/libpod-abc.scope\n", true, &p), 0);
    assert_string_equal(p.unified, "/system.slice/libpod-abc.scope");
}

static void missing_controllers_or_garbage(void **state) {
    (void)state;
    mc_cgroup_paths p;
    assert_int_equal(mc_cgroup_parse("4:memory:/x\n", false, &p), -1);
    assert_int_equal(mc_cgroup_parse("", true, &p), -1);
    assert_int_equal(mc_cgroup_parse("garbage\n:::\n1:memory\n", false, &p), -1);
    assert_int_equal(mc_cgroup_parse("4:memory:/x\n", true, &p), -1);
}

/* A nested container's path carries the outer container's cgroup first;
 * the hierarchy the agent sees starts at the outer one. */
static void locate_drops_leading_components(void **state) {
    (void)state;
    char dir[] = "/tmp/mcloud-cgroup-XXXXXX", path[512], want[512];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/libpod_parent", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/libpod_parent/libpod-inner", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(want, sizeof want, "%s/libpod_parent/libpod-inner/memory.current", dir);
    FILE *f = fopen(want, "w");
    assert_non_null(f);
    fputs("4096\n", f);
    fclose(f);
    char out[600];
    /* the path as /proc/<pid>/cgroup gives it from the host's namespace */
    assert_int_equal(mc_cgroup_locate(out, sizeof out, dir, "/libpod_parent/libpod-outer/libpod_parent/libpod-inner",
                                      "memory.current"), 0);
    assert_string_equal(out, want);
    /* the plain case: the path as it is */
    assert_int_equal(mc_cgroup_locate(out, sizeof out, dir, "/libpod_parent/libpod-inner", "memory.current"), 0);
    assert_string_equal(out, want);
    assert_int_equal(mc_cgroup_locate(out, sizeof out, dir, "/elsewhere/entirely", "memory.current"), -1);
    assert_int_equal(mc_cgroup_locate(out, sizeof out, dir, "", "memory.current"), -1);
    unlink(want);
    snprintf(path, sizeof path, "%s/libpod_parent/libpod-inner", dir);
    rmdir(path);
    snprintf(path, sizeof path, "%s/libpod_parent", dir);
    rmdir(path);
    rmdir(dir);
}

static void write_text(char *path, size_t cap, const char *dir, const char *name, const char *text) {
    path[0] = '\0';
    if (!text) return;
    snprintf(path, cap, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Located files of pid in a new directory: each text written to its file
 * (NULL: that file does not exist). */
static mc_cgroup_files fake_files(char *dir, int pid, bool v2, const char *memory, const char *cpu,
                                  const char *pids) {
    assert_non_null(mkdtemp(dir));
    mc_cgroup_files f = {.pid = pid, .v2 = v2};
    write_text(f.memory, sizeof f.memory, dir, v2 ? "memory.current" : "memory.usage_in_bytes", memory);
    write_text(f.cpu, sizeof f.cpu, dir, v2 ? "cpu.stat" : "cpuacct.usage", cpu);
    write_text(f.pids, sizeof f.pids, dir, "pids.current", pids);
    return f;
}

static void remove_files(const mc_cgroup_files *f, const char *dir) {
    unlink(f->memory);
    if (f->cpu[0]) unlink(f->cpu);
    if (f->pids[0]) unlink(f->pids);
    rmdir(dir);
}

/* The located files are read while they can be, without locating again
 * (a root where nothing can be located proves it); a failed read, or
 * another pid, locates again. */
static void read_uses_the_located_files_until_they_fail(void **state) {
    (void)state;
    char dir[] = "/tmp/mcloud-cgroup-XXXXXX";
    mc_cgroup_files cache = fake_files(dir, 4242, true, "4096\n", "usage_usec 2500000\nuser_usec 1\n", "7\n");
    const mc_cgroup_files files = cache;
    mc_cgroup_usage u;
    assert_int_equal(mc_cgroup_read("/nonexistent", 4242, &cache, &u), 0);
    assert_int_equal(u.memory_bytes, 4096);
    assert_int_equal(u.pids, 7);
    assert_int_equal(usec(u.cpu_seconds), 2500000); /* cpuacct.usage 2500000000 ns, parsed */
    FILE *m = fopen(cache.memory, "w");
    assert_non_null(m);
    fputs("8192\n", m);
    fclose(m);
    assert_int_equal(mc_cgroup_read("/nonexistent", 4242, &cache, &u), 0);
    assert_int_equal(u.memory_bytes, 8192);
    /* another pid: located again (and under this root, not found) */
    assert_int_equal(mc_cgroup_read("/nonexistent", 4243, &cache, &u), -1);
    assert_int_equal(cache.pid, 0);
    assert_int_equal(u.memory_bytes, 0);
    /* the same pid but its files gone: located again */
    cache = files;
    unlink(files.memory);
    assert_int_equal(mc_cgroup_read("/nonexistent", 4242, &cache, &u), -1);
    assert_int_equal(cache.pid, 0);
    remove_files(&files, dir);
}

/* v1 reads cpuacct.usage in nanoseconds. */
static void read_files_v1(void **state) {
    (void)state;
    char dir[] = "/tmp/mcloud-cgroup-XXXXXX";
    mc_cgroup_files f = fake_files(dir, 1, false, "100\n", "3000000000\n", NULL);
    mc_cgroup_usage u;
    assert_int_equal(mc_cgroup_read_files(&f, &u), 0);
    assert_int_equal(u.memory_bytes, 100);
    assert_int_equal(u.pids, 0); /* no pids file */
    assert_int_equal(usec(u.cpu_seconds), 3000000); /* usage_usec 3000000, parsed */
    remove_files(&f, dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(v1_separate_controllers),
        cmocka_unit_test(v1_joined_controllers),
        cmocka_unit_test(v2_unified),
        cmocka_unit_test(missing_controllers_or_garbage),
        cmocka_unit_test(locate_drops_leading_components),
        cmocka_unit_test(read_uses_the_located_files_until_they_fail),
        cmocka_unit_test(read_files_v1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
