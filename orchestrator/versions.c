/* versions.c — the spec versions in MySQL (table orchestrator_specs):
 * every version applied, who applied it, why, and the diff from the one
 * before. A change is made in one transaction that locks the latest row,
 * so two operators applying at once get two versions, each diffed against
 * the other's. Undo and revert store an older spec as a new version: the
 * history only grows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mysql.h"
#include "orchestrator/orchestrator.h"

static int parse_stored(mc_orch *o, const char *text, mc_spec *out, mc_err *err) {
    mc_spec_errors errs;
    (void)o;
    /* Stored specs were checked when applied; images known then stay known. */
    if (mc_spec_parse(text, strlen(text), NULL, out, &errs) == 0) return 0;
    char msg[400];
    mc_spec_errors_join(&errs, msg, sizeof msg);
    return mc_err_set(err, MC_ERR_INTERNAL, "stored spec does not parse: %s", msg);
}

int64_t mc_orch_latest_version(mc_orch *o, mc_err *err) {
    mc_db_rows rows;
    if (mc_db_query(o->svc.db, MC_DB_MASTER, "SELECT COALESCE(MAX(version), 0) FROM orchestrator_specs", NULL, 0,
                    &rows, err) < 0)
        return -1;
    const char *v = mc_db_rows_get(&rows, 0, 0);
    int64_t version = v ? strtoll(v, NULL, 10) : 0;
    mc_db_rows_free(&rows);
    return version;
}

void mc_orch_history_free(mc_orch_version *v, int n) {
    for (int i = 0; v && i < n; i++) free(v[i].spec);
    free(v);
}

static int load_rows(mc_orch *o, mc_db_rows *rows, mc_orch_version **out, int *n, mc_err *err) {
    *out = calloc(rows->nrows ? rows->nrows : 1, sizeof **out);
    *n = 0;
    if (!*out) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    for (size_t r = 0; r < rows->nrows; r++) {
        mc_orch_version *v = &(*out)[*n];
        v->version = strtoll(mc_db_rows_get(rows, r, 0), NULL, 10);
        v->spec = malloc(sizeof *v->spec);
        if (!v->spec) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        (*n)++;
        if (parse_stored(o, mc_db_rows_get(rows, r, 1), v->spec, err) < 0)
            return mc_err_wrap(err, "version %lld", (long long)v->version);
    }
    return 0;
}

int mc_orch_history(mc_orch *o, mc_orch_version **out, int *n, mc_err *err) {
    mc_db_rows rows;
    if (mc_db_query(o->svc.db, MC_DB_MASTER,
                    "SELECT version, spec FROM orchestrator_specs ORDER BY version DESC LIMIT 100", NULL, 0, &rows,
                    err) < 0)
        return -1;
    int rc = load_rows(o, &rows, out, n, err);
    mc_db_rows_free(&rows);
    if (rc < 0) {
        mc_orch_history_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

/* In one transaction: the latest spec (row-locked), edit, diff, insert. */
static int apply_locked(mc_orch *o, mc_db_conn *c, const mc_spec *given, mc_orch_edit fn, void *ctx, const char *who,
                        const char *reason, bool dry_run, int64_t *version, char **diff, mc_err *err) {
    mc_db_rows rows;
    if (mc_db_conn_query(c, "SELECT version, spec FROM orchestrator_specs ORDER BY version DESC LIMIT 100 FOR UPDATE",
                         NULL, 0, &rows, err) < 0)
        return -1;
    mc_orch_version *hist = NULL;
    int nhist = 0, rc = -1;
    mc_spec *next = malloc(sizeof *next);
    if (!next) {
        mc_db_rows_free(&rows);
        return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    }
    if (load_rows(o, &rows, &hist, &nhist, err) < 0) goto out;
    const mc_spec *latest = nhist ? hist[0].spec : NULL;
    *version = nhist ? hist[0].version : 0;
    if (fn) {
        if (!latest) {
            mc_err_set(err, MC_ERR_CONFLICT, "no spec applied yet: run `mcloud deploy` first");
            goto out;
        }
        *next = *latest;
        if (fn(o, next, hist, nhist, ctx, err) < 0) goto out;
        mc_spec_errors errs;
        if (mc_spec_validate(next, NULL, &errs) < 0) {
            char msg[400];
            mc_spec_errors_join(&errs, msg, sizeof msg);
            mc_err_set(err, MC_ERR_INVALID, "%s", msg);
            goto out;
        }
    } else {
        *next = *given;
    }
    *diff = mc_spec_diff(latest, next);
    char *text = mc_spec_format(next);
    if (!*diff || !text) {
        free(text);
        mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        goto out;
    }
    if (!dry_run && (*diff)[0]) {
        mc_db_info info;
        rc = mc_db_conn_exec(c, "INSERT INTO orchestrator_specs (spec, diff, applied_by, reason) VALUES (?, ?, ?, ?)",
                             MC_DB_ARGS(mc_db_str(text), mc_db_str(*diff), mc_db_str(who), mc_db_str(reason)), &info,
                             err);
        if (rc == 0) *version = (int64_t)info.insert_id;
    } else {
        rc = 0;
    }
    free(text);
out:
    mc_db_rows_free(&rows);
    mc_orch_history_free(hist, nhist);
    free(next);
    return rc;
}

static int apply(mc_orch *o, const mc_spec *spec, mc_orch_edit fn, void *ctx, const char *who, const char *reason,
                 bool dry_run, int64_t *version, char **diff, mc_err *err) {
    *diff = NULL;
    mc_db_conn *c = mc_db_acquire(o->svc.db, MC_DB_MASTER, err);
    if (!c) return -1;
    int rc = mc_db_begin(c, err);
    if (rc == 0) rc = apply_locked(o, c, spec, fn, ctx, who, reason, dry_run, version, diff, err);
    if (rc == 0) rc = mc_db_commit(c, err);
    else {
        mc_err ignored;
        mc_db_rollback(c, &ignored);
    }
    mc_db_release(c);
    if (rc < 0) {
        free(*diff);
        *diff = NULL;
    }
    return rc;
}

int mc_orch_apply(mc_orch *o, const mc_spec *spec, const char *who, const char *reason, bool dry_run,
                  int64_t *version, char **diff, mc_err *err) {
    return apply(o, spec, NULL, NULL, who, reason, dry_run, version, diff, err);
}

int mc_orch_edit_latest(mc_orch *o, mc_orch_edit fn, void *ctx, const char *who, const char *reason,
                        int64_t *version, char **diff, mc_err *err) {
    return apply(o, NULL, fn, ctx, who, reason, false, version, diff, err);
}

json_t *mc_orch_versions_json(mc_orch *o, int limit, mc_err *err) {
    mc_db_rows rows;
    if (mc_db_query(o->svc.db, MC_DB_MASTER,
                    "SELECT version, applied_by, reason, DATE_FORMAT(applied_at, '%Y-%m-%dT%H:%i:%s.%fZ'), diff "
                    "FROM orchestrator_specs ORDER BY version DESC LIMIT ?",
                    MC_DB_ARGS(mc_db_i64(limit)), &rows, err) < 0)
        return NULL;
    json_t *list = json_array();
    for (size_t r = 0; r < rows.nrows; r++)
        json_array_append_new(list, json_pack("{s:I, s:s, s:s, s:s, s:s}", "version",
                                              (json_int_t)strtoll(mc_db_rows_get(&rows, r, 0), NULL, 10),
                                              "applied_by", mc_db_rows_get(&rows, r, 1), "reason",
                                              mc_db_rows_get(&rows, r, 2), "applied_at",
                                              mc_db_rows_get(&rows, r, 3), "diff", mc_db_rows_get(&rows, r, 4)));
    mc_db_rows_free(&rows);
    return json_pack("{s:o}", "versions", list);
}
