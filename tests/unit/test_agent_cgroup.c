/* Unit tests for the agent's /proc/<pid>/cgroup parser: cgroup v1 with
 * separate or joined controllers, and v2's unified line. */
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(v1_separate_controllers),
        cmocka_unit_test(v1_joined_controllers),
        cmocka_unit_test(v2_unified),
        cmocka_unit_test(missing_controllers_or_garbage),
        cmocka_unit_test(locate_drops_leading_components),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
