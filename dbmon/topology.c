/* topology.c — mcloud-dbmon's decisions (see topology.h). Pure: no I/O. */
#include "dbmon/topology.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ER_MASTER_FATAL_ERROR_READING_BINLOG 1236
#define GTID_DOMAINS_MAX 32

typedef struct gtid_pos {
    uint32_t domain[GTID_DOMAINS_MAX];
    uint64_t seq[GTID_DOMAINS_MAX];
    size_t n;
} gtid_pos;

static int parse_u64(const char **p, char stop, uint64_t *out) {
    char *end;
    if (**p < '0' || **p > '9') return -1;
    errno = 0;
    unsigned long long v = strtoull(*p, &end, 10);
    if (errno || (*end != stop && !(stop == ',' && *end == '\0'))) return -1;
    *out = v;
    *p = end;
    return 0;
}

/* "D-S-N[,D-S-N...]" -> per-domain sequence numbers; "" is the empty position. */
static int gtid_parse(const char *s, gtid_pos *g) {
    g->n = 0;
    const char *p = s;
    while (*p == ' ') p++;
    while (*p) {
        uint64_t d, server, seq;
        if (parse_u64(&p, '-', &d) < 0 || d > UINT32_MAX) return -1;
        p++;
        if (parse_u64(&p, '-', &server) < 0) return -1;
        p++;
        if (parse_u64(&p, ',', &seq) < 0 || g->n == GTID_DOMAINS_MAX) return -1;
        for (size_t i = 0; i < g->n; i++)
            if (g->domain[i] == d) return -1;
        g->domain[g->n] = (uint32_t)d;
        g->seq[g->n++] = seq;
        if (*p == ',') p++;
        while (*p == ' ' || *p == '\n') p++;
    }
    return 0;
}

static uint64_t seq_of(const gtid_pos *g, uint32_t domain) {
    for (size_t i = 0; i < g->n; i++)
        if (g->domain[i] == domain) return g->seq[i];
    return 0;
}

dbmon_gtid_order dbmon_gtid_compare(const char *a, const char *b) {
    gtid_pos ga, gb;
    if (!a || !b || gtid_parse(a, &ga) < 0 || gtid_parse(b, &gb) < 0) return DBMON_GTID_DIVERGED;
    bool ahead = false, behind = false;
    for (int pass = 0; pass < 2; pass++) {
        const gtid_pos *x = pass ? &gb : &ga;
        for (size_t i = 0; i < x->n; i++) {
            uint64_t sa = seq_of(&ga, x->domain[i]), sb = seq_of(&gb, x->domain[i]);
            if (sa > sb) ahead = true;
            if (sa < sb) behind = true;
        }
    }
    if (ahead && behind) return DBMON_GTID_DIVERGED;
    return ahead ? DBMON_GTID_AHEAD : behind ? DBMON_GTID_BEHIND : DBMON_GTID_EQUAL;
}

static const char *received(const dbmon_server *s) {
    return s->gtid_io[0] ? s->gtid_io : s->gtid_current;
}

dbmon_verdict dbmon_judge(const dbmon_view *v, int *candidate) {
    *candidate = -1;
    if (v->master < 0 || (size_t)v->master >= v->n) return DBMON_MASTER_OK;
    const dbmon_server *m = &v->servers[v->master];
    if (m->reachable) return DBMON_MASTER_OK;
    if (v->unreachable_ms < v->dead_after_ms) return DBMON_MASTER_SUSPECT;
    for (size_t i = 0; i < v->n; i++) {
        const dbmon_server *s = &v->servers[i];
        if ((int)i == v->master || !s->reachable || strcmp(s->master_addr, m->addr) != 0) continue;
        if (s->io_running) return DBMON_MASTER_SUSPECT; /* a replica still sees it */
    }
    for (size_t i = 0; i < v->n; i++) {
        const dbmon_server *s = &v->servers[i];
        if ((int)i == v->master || !s->reachable || strcmp(s->master_addr, m->addr) != 0) continue;
        if (*candidate < 0) {
            *candidate = (int)i;
            continue;
        }
        dbmon_gtid_order o = dbmon_gtid_compare(received(s), received(&v->servers[*candidate]));
        if (o == DBMON_GTID_AHEAD) *candidate = (int)i;
    }
    return *candidate < 0 ? DBMON_NO_CANDIDATE : DBMON_MASTER_DEAD;
}

int dbmon_acting_master(const dbmon_view *v) {
    for (size_t i = 0; i < v->n; i++) {
        const dbmon_server *m = &v->servers[i];
        if ((int)i == v->master || !m->reachable || m->read_only || m->master_addr[0]) continue;
        for (size_t j = 0; j < v->n; j++)
            if (j != i && v->servers[j].reachable && strcmp(v->servers[j].master_addr, m->addr) == 0)
                return (int)i;
    }
    return -1;
}

const char *dbmon_verdict_name(dbmon_verdict v) {
    switch (v) {
    case DBMON_MASTER_OK: return "ok";
    case DBMON_MASTER_SUSPECT: return "suspect";
    case DBMON_MASTER_DEAD: return "dead";
    case DBMON_NO_CANDIDATE: return "dead, no candidate";
    case DBMON_MASTER_MAINTENANCE: return "down for maintenance";
    }
    return "unknown";
}

bool dbmon_needs_rejoin(const dbmon_server *s, const char *master_addr, const char **why) {
    const char *reason = NULL;
    if (!s->reachable || !master_addr || !*master_addr || strcmp(s->addr, master_addr) == 0) return false;
    if (!s->read_only) reason = "writable but not the published master";
    else if (!s->master_addr[0]) reason = "not replicating";
    else if (strcmp(s->master_addr, master_addr) != 0) reason = "replicating from an old master";
    if (why) *why = reason;
    return reason != NULL;
}

bool dbmon_diverged(const dbmon_server *s) {
    return s->reachable && s->io_errno == ER_MASTER_FATAL_ERROR_READING_BINLOG;
}
