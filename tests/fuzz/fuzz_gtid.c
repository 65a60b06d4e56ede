/* Fuzz target: the GTID position lists mcloud-dbmon reads from MariaDB
 * (dbmon/topology.c) — "D-S-N,..." from @@gtid_current_pos and Gtid_IO_Pos.
 * Any two inputs (split at the first newline) must compare without a crash
 * and consistently: a is ahead of b exactly when b is behind a, equal and
 * diverged are symmetric, and a list is equal to itself unless unparsable. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dbmon/topology.h"

static dbmon_gtid_order mirror(dbmon_gtid_order o) {
    if (o == DBMON_GTID_AHEAD) return DBMON_GTID_BEHIND;
    if (o == DBMON_GTID_BEHIND) return DBMON_GTID_AHEAD;
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    char *b = strchr(text, '\n');
    if (b) *b++ = '\0';
    else b = text + strlen(text);
    dbmon_gtid_order ab = dbmon_gtid_compare(text, b), ba = dbmon_gtid_compare(b, text);
    if (ab != mirror(ba)) __builtin_trap();
    dbmon_gtid_order self = dbmon_gtid_compare(text, text);
    if (self != DBMON_GTID_EQUAL && self != DBMON_GTID_DIVERGED) __builtin_trap();
    free(text);
    return 0;
}
