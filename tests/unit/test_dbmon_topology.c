/* Unit tests of mcloud-dbmon's decisions (dbmon/topology.c): when a master
 * counts as dead, which replica is promoted, GTID ordering, and which
 * servers are fenced and re-attached. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dbmon/topology.h"

#define M "127.0.0.1:1"
#define R1 "127.0.0.1:2"
#define R2 "127.0.0.1:3"

static dbmon_server srv(const char *addr, bool up, const char *master, bool io, const char *gtid_io) {
    dbmon_server s = {.reachable = up, .io_running = io, .sql_running = true, .read_only = master != NULL};
    snprintf(s.addr, sizeof s.addr, "%s", addr);
    snprintf(s.master_addr, sizeof s.master_addr, "%s", master ? master : "");
    snprintf(s.gtid_io, sizeof s.gtid_io, "%s", gtid_io ? gtid_io : "");
    return s;
}

static dbmon_verdict judge(dbmon_server *s, long unreachable_ms, int *cand) {
    dbmon_view v = {.servers = s, .n = 3, .master = 0, .unreachable_ms = unreachable_ms, .dead_after_ms = 3000};
    return dbmon_judge(&v, cand);
}

static void reachable_master_is_ok(void **state) {
    (void)state;
    dbmon_server s[3] = {srv(M, true, NULL, false, NULL), srv(R1, true, M, true, "0-1-5"),
                         srv(R2, true, M, true, "0-1-5")};
    int c;
    assert_int_equal(judge(s, 0, &c), DBMON_MASTER_OK);
    assert_int_equal(c, -1);
}

static void not_dead_before_the_delay(void **state) {
    (void)state;
    dbmon_server s[3] = {srv(M, false, NULL, false, NULL), srv(R1, true, M, false, "0-1-5"),
                         srv(R2, true, M, false, "0-1-5")};
    int c;
    assert_int_equal(judge(s, 2999, &c), DBMON_MASTER_SUSPECT);
    assert_int_equal(judge(s, 3000, &c), DBMON_MASTER_DEAD);
}

/* The monitor alone lost the master: a replica's IO thread still sees it. */
static void monitor_side_blip_is_no_failover(void **state) {
    (void)state;
    dbmon_server s[3] = {srv(M, false, NULL, false, NULL), srv(R1, true, M, false, "0-1-5"),
                         srv(R2, true, M, true, "0-1-5")};
    int c;
    assert_int_equal(judge(s, 60000, &c), DBMON_MASTER_SUSPECT);
    assert_int_equal(c, -1);
}

static void most_advanced_replica_is_promoted(void **state) {
    (void)state;
    dbmon_server s[3] = {srv(M, false, NULL, false, NULL), srv(R1, true, M, false, "0-1-41"),
                         srv(R2, true, M, false, "0-1-42")};
    int c;
    assert_int_equal(judge(s, 5000, &c), DBMON_MASTER_DEAD);
    assert_int_equal(c, 2);
    /* an unreachable replica is no candidate, even if it got more */
    s[2].reachable = false;
    assert_int_equal(judge(s, 5000, &c), DBMON_MASTER_DEAD);
    assert_int_equal(c, 1);
    /* a replica of another master is no candidate either */
    snprintf(s[1].master_addr, sizeof s[1].master_addr, "%s", "10.0.0.9:3306");
    assert_int_equal(judge(s, 5000, &c), DBMON_NO_CANDIDATE);
    assert_int_equal(c, -1);
}

static void no_published_master(void **state) {
    (void)state;
    dbmon_server s[3] = {srv(M, false, NULL, false, NULL), srv(R1, true, M, false, NULL),
                         srv(R2, true, M, false, NULL)};
    dbmon_view v = {.servers = s, .n = 3, .master = -1, .unreachable_ms = 99999, .dead_after_ms = 0};
    int c;
    assert_int_equal(dbmon_judge(&v, &c), DBMON_MASTER_OK);
}

static void gtid_order(void **state) {
    (void)state;
    assert_int_equal(dbmon_gtid_compare("0-1-5", "0-1-5"), DBMON_GTID_EQUAL);
    assert_int_equal(dbmon_gtid_compare("0-1-5", "0-2-6"), DBMON_GTID_BEHIND);
    assert_int_equal(dbmon_gtid_compare("0-2-7", "0-1-6"), DBMON_GTID_AHEAD);
    assert_int_equal(dbmon_gtid_compare("", "0-1-1"), DBMON_GTID_BEHIND);
    assert_int_equal(dbmon_gtid_compare("0-1-5,1-1-3", "0-1-5"), DBMON_GTID_AHEAD);
    assert_int_equal(dbmon_gtid_compare("0-1-6,1-1-3", "0-1-5,1-1-4"), DBMON_GTID_DIVERGED);
    assert_int_equal(dbmon_gtid_compare("0-1-5, 1-1-3", "1-1-3,0-1-5"), DBMON_GTID_EQUAL);
    /* unparsable input never orders */
    assert_int_equal(dbmon_gtid_compare("0-1", "0-1-5"), DBMON_GTID_DIVERGED);
    assert_int_equal(dbmon_gtid_compare("x-1-5", "0-1-5"), DBMON_GTID_DIVERGED);
    assert_int_equal(dbmon_gtid_compare("0-1-5,0-2-6", "0-1-5"), DBMON_GTID_DIVERGED);
    assert_int_equal(dbmon_gtid_compare(NULL, "0-1-5"), DBMON_GTID_DIVERGED);
}

static void rejoin_rules(void **state) {
    (void)state;
    const char *why = NULL;
    dbmon_server ok = srv(R1, true, M, true, NULL);
    assert_false(dbmon_needs_rejoin(&ok, M, &why));
    dbmon_server old_master = srv(M, true, NULL, false, NULL); /* writable, no replication */
    old_master.read_only = false;
    assert_true(dbmon_needs_rejoin(&old_master, R1, &why));
    assert_string_equal(why, "writable but not the published master");
    dbmon_server stale = srv(R2, true, M, true, NULL);
    assert_true(dbmon_needs_rejoin(&stale, R1, &why));
    assert_string_equal(why, "replicating from an old master");
    dbmon_server lone = srv(R2, true, NULL, false, NULL);
    lone.read_only = true;
    assert_true(dbmon_needs_rejoin(&lone, R1, &why));
    /* the master itself and unreachable servers are left alone */
    assert_false(dbmon_needs_rejoin(&old_master, M, &why));
    stale.reachable = false;
    assert_false(dbmon_needs_rejoin(&stale, R1, &why));
    /* refused because it holds transactions the master never had */
    dbmon_server diverged = srv(M, true, R1, false, NULL);
    diverged.io_errno = 1236;
    assert_true(dbmon_diverged(&diverged));
    diverged.io_errno = 2003;
    assert_false(dbmon_diverged(&diverged));
}

/* A Redis failover lost the last mysql.master write: the published master
 * is the dead old one, while R1 acts as master with R2 replicating from it. */
static void acting_master_is_found(void **state) {
    (void)state;
    dbmon_server s[3] = {srv(M, false, NULL, false, NULL), srv(R1, true, NULL, false, NULL),
                         srv(R2, true, R1, true, "0-2-9")};
    dbmon_view v = {.servers = s, .n = 3, .master = 0, .unreachable_ms = 99999, .dead_after_ms = 3000};
    assert_int_equal(dbmon_acting_master(&v), 1);
    /* read-only, or nobody replicating from it: not acting */
    s[1].read_only = true;
    assert_int_equal(dbmon_acting_master(&v), -1);
    s[1].read_only = false;
    snprintf(s[2].master_addr, sizeof s[2].master_addr, "%s", M);
    assert_int_equal(dbmon_acting_master(&v), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reachable_master_is_ok),
        cmocka_unit_test(not_dead_before_the_delay),
        cmocka_unit_test(monitor_side_blip_is_no_failover),
        cmocka_unit_test(most_advanced_replica_is_promoted),
        cmocka_unit_test(no_published_master),
        cmocka_unit_test(gtid_order),
        cmocka_unit_test(rejoin_rules),
        cmocka_unit_test(acting_master_is_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
