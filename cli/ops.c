/* ops.c — `mcloud` operator commands against mcloud-orchestrator's API
 * (orchestrator.url, default http://127.0.0.1:18084). The token is
 * MCLOUD_OPERATOR_TOKEN, else one minted with this machine's token.secret
 * and scope "operator" (the development set-up). Tables for people,
 * --json for scripts (the API's own JSON, unchanged). deploy and scale
 * print the diff, then follow the rollout with a progress line until every
 * instance is healthy, the rollout fails, or waits for a promote;
 * resources prints the diff, then each instance as its agent applied the
 * new limits in place.
 * A refused request prints the API's problem detail (and every spec error)
 * and exits 1. */
#include "cli/ops.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/curl_body.h"
#include "common/json.h"
#include "common/token.h"

#define TOKEN_TTL_S 3600
#define FOLLOW_POLL_US 500000

typedef struct ops {
    mc_config *cfg;
    const char *cmd;
    char url[256];
    char *token;
    bool json;
    bool wait;
    long timeout_s;
    long tail;
} ops;

static char *operator_token(mc_config *cfg) {
    const char *env = getenv("MCLOUD_OPERATOR_TOKEN");
    if (env && *env) return strdup(env);
    const char *secret = mc_config_get(cfg, "token.secret");
    mc_token_key key = {mc_config_get(cfg, "token.key_id"), (const unsigned char *)secret, strlen(secret)};
    mc_token_claims claims = {.exp = time(NULL) + TOKEN_TTL_S, .scope_count = 1};
    const char *user = getenv("USER");
    snprintf(claims.tenant, sizeof claims.tenant, "%s", user && mc_token_name_valid(user) ? user : "operator");
    strcpy(claims.scopes[0], "operator");
    char *token = NULL;
    mc_err err = {0};
    if (mc_token_mint(&key, &claims, &token, &err) < 0) fprintf(stderr, "mcloud: %s\n", err.msg);
    return token;
}

/* One request; answers the parsed JSON (NULL for a text answer: *text), or
 * prints the problem and returns NULL with *failed set. */
static json_t *call(ops *o, const char *method, const char *path, const char *body, char **text, bool *failed) {
    *failed = true;
    if (text) *text = NULL;
    char url[512], auth[MC_TOKEN_MAX_BYTES + 32];
    snprintf(url, sizeof url, "%s%s", o->url, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", o->token ? o->token : "");
    const char *headers[] = {auth, NULL};
    mc_curl_request r = {.method = method, .url = url, .headers = headers, .body = body, .timeout_ms = 60000,
                         .max = 16 * 1024 * 1024};
    long status = 0;
    char *answer = NULL;
    mc_err err = {0};
    json_t *j = NULL;
    if (mc_curl_perform(&r, &status, &answer, &err) < 0) {
        fprintf(stderr, "mcloud %s: %s (is mcloud-orchestrator running? MCLOUD_ORCHESTRATOR_URL)\n", o->cmd, err.msg);
    } else if (status >= 400) {
        json_t *p = json_loads(answer, 0, NULL);
        const char *detail = json_string_value(json_object_get(p, "detail"));
        json_t *errors = json_object_get(p, "errors");
        if (json_is_array(errors)) {
            fprintf(stderr, "mcloud %s: %s:\n", o->cmd, json_string_value(json_object_get(p, "title")));
            size_t i;
            json_t *e;
            json_array_foreach(errors, i, e) fprintf(stderr, "  %s\n", json_string_value(e));
        } else {
            fprintf(stderr, "mcloud %s: %ld %s\n", o->cmd, status, detail ? detail : answer);
        }
        json_decref(p);
    } else if (text) {
        *text = answer;
        answer = NULL;
        *failed = false;
    } else {
        j = json_loads(answer, 0, NULL);
        if (!j) fprintf(stderr, "mcloud %s: the orchestrator answered something else than JSON\n", o->cmd);
        else *failed = false;
    }
    free(answer);
    return j;
}

static int print_json(json_t *j) {
    char *s = json_dumps(j, JSON_INDENT(2));
    if (s) puts(s);
    free(s);
    json_decref(j);
    return 0;
}

static const char *str(json_t *o, const char *k) {
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static long long num(json_t *o, const char *k) { return (long long)json_number_value(json_object_get(o, k)); }

static int cmd_ps(ops *o) {
    bool failed;
    json_t *j = call(o, "GET", "/v1/instances", NULL, NULL, &failed);
    if (!j) return 1;
    if (o->json) return print_json(j);
    printf("%-16s %-10s %-10s %-8s %-8s %-8s %-5s %-6s %s\n", "INSTANCE", "NODE", "STATE", "HEALTH", "VERSION", "RESTARTS",
           "EXIT", "PORT", "CONTAINER / PENDING");
    size_t i;
    json_t *in;
    json_array_foreach(json_object_get(j, "instances"), i, in) {
        json_t *runs = json_object_get(in, "running");
        if (json_array_size(runs) == 0) {
            bool placed = str(in, "node")[0];
            printf("%-16s %-10s %-10s %-8s %-8lld %-8s %-5s %-6s %s\n", str(in, "name"),
                   placed ? str(in, "node") : "-", placed ? "ordered" : "pending", "-", num(in, "want_version"), "-",
                   "-", "-", placed ? "(not reported by the node yet)" : str(in, "pending"));
            continue;
        }
        size_t k;
        json_t *r;
        json_array_foreach(runs, k, r) {
            bool healthy = json_is_true(json_object_get(r, "healthy")), ready = json_is_true(json_object_get(r, "ready"));
            char ver[32];
            snprintf(ver, sizeof ver, "%lld%s", num(r, "spec_version"),
                     num(in, "want_version") && num(r, "spec_version") != num(in, "want_version") ? "*" : "");
            printf("%-16s %-10s %-10s %-8s %-8s %-8lld %-5lld %-6lld %.12s%s\n", str(in, "name"), str(r, "node"),
                   str(r, "state"), healthy ? (ready ? "ok" : "unready") : "failing", ver, num(r, "restarts"),
                   num(r, "last_exit_code"), num(r, "port"), str(r, "container_id"),
                   num(in, "want_version") == 0 ? " (stopping)" : "");
        }
    }
    json_decref(j);
    return 0;
}

/* CPU and memory of each running container, from its cgroup as its node's
 * agent read it (the CPU share is over the agent's last second). */
static int cmd_top(ops *o) {
    bool failed;
    json_t *j = call(o, "GET", "/v1/instances", NULL, NULL, &failed);
    if (!j) return 1;
    if (o->json) return print_json(j);
    printf("%-16s %-10s %-10s %7s %10s %6s %s\n", "INSTANCE", "NODE", "STATE", "CPU %", "MEMORY", "PIDS", "CONTAINER");
    size_t i, k, shown = 0;
    json_t *in, *r;
    json_array_foreach(json_object_get(j, "instances"), i, in) {
        json_array_foreach(json_object_get(in, "running"), k, r) {
            json_t *u = json_object_get(r, "usage");
            printf("%-16s %-10s %-10s %7.1f %9.1fM %6lld %.12s\n", str(in, "name"), str(r, "node"), str(r, "state"),
                   json_number_value(json_object_get(u, "cpu_percent")),
                   (double)num(u, "memory_bytes") / (1024.0 * 1024.0), num(u, "pids"), str(r, "container_id"));
            shown++;
        }
    }
    if (shown == 0) printf("(no container running)\n");
    json_decref(j);
    return 0;
}

static int cmd_nodes(ops *o) {
    bool failed;
    json_t *j = call(o, "GET", "/v1/nodes", NULL, NULL, &failed);
    if (!j) return 1;
    if (o->json) return print_json(j);
    printf("%-12s %-6s %-10s %-10s %-10s %-9s %-8s %s\n", "NODE", "CPUS", "MEMORY", "FREE CPU", "FREE MEM", "INSTANCES",
           "STATUS", "AGENT");
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(j, "nodes"), i, n) {
        printf("%-12s %-6.2f %-10lldM %-9.2f %-10lldM %-9lld %-8s %s\n", str(n, "node"),
               json_number_value(json_object_get(n, "cpus")), num(n, "memory_bytes") >> 20,
               json_number_value(json_object_get(n, "free_cpus")), num(n, "free_memory_bytes") >> 20,
               num(n, "instances"), json_is_true(json_object_get(n, "draining")) ? "draining" : "ready",
               str(n, "agent_url"));
    }
    json_decref(j);
    return 0;
}

/* ", N pending: <reason>" when instances of service cannot be placed. */
static void pending_of(ops *o, const char *service, char *out, size_t len) {
    bool failed;
    json_t *j = call(o, "GET", "/v1/instances", NULL, NULL, &failed);
    int n = 0;
    const char *reason = "";
    size_t i;
    json_t *in;
    json_array_foreach(json_object_get(j, "instances"), i, in) {
        if (strcmp(str(in, "service"), service) != 0 || !str(in, "pending")[0]) continue;
        n++;
        reason = str(in, "pending");
    }
    if (n) snprintf(out, len, ", %d pending: %s", n, reason);
    json_decref(j);
}

/* Follows service's rollout until its instances are healthy at the wanted
 * version, it fails, or it waits for a promote. */
static int follow(ops *o, const char *service) {
    char path[160], last[512] = "";
    snprintf(path, sizeof path, "/v1/services/%s/rollout", service);
    time_t until = time(NULL) + o->timeout_s;
    bool tty = isatty(STDOUT_FILENO);
    while (time(NULL) < until) {
        bool failed;
        json_t *j = call(o, "GET", path, NULL, NULL, &failed);
        if (!j) return 1;
        const char *st = str(j, "status");
        long long healthy = num(j, "healthy"), count = num(j, "count");
        char line[512], pending[256] = "";
        pending_of(o, service, pending, sizeof pending);
        snprintf(line, sizeof line, "%s: %lld/%lld healthy at version %lld, rollout %s (%s)%s", service, healthy, count,
                 num(j, "to"), st, str(j, "detail"), pending);
        if (strcmp(line, last) != 0) {
            printf(tty ? "\r\033[K%s" : "%s\n", line);
            fflush(stdout);
            snprintf(last, sizeof last, "%s", line);
        }
        int rc = -1;
        if (strcmp(st, "failed") == 0) rc = 1;
        else if (strcmp(st, "waiting for promote") == 0) rc = 0;
        else if (strcmp(st, "done") == 0 && healthy >= count) rc = 0;
        json_decref(j);
        if (rc >= 0) {
            if (tty) printf("\n");
            if (rc) fprintf(stderr, "mcloud %s: the rollout of %s failed\n", o->cmd, service);
            return rc;
        }
        usleep(FOLLOW_POLL_US);
    }
    if (tty) printf("\n");
    fprintf(stderr, "mcloud %s: %s not healthy after %ld s (mcloud ps shows why)\n", o->cmd, service, o->timeout_s);
    return 1;
}

/* Waits until the orchestrator asked runs spec version (or a newer one):
 * it picks a change up at its next round. */
static int wait_loaded(ops *o, long long version) {
    time_t until = time(NULL) + o->timeout_s;
    while (time(NULL) < until) {
        bool failed;
        json_t *j = call(o, "GET", "/v1/status", NULL, NULL, &failed);
        if (!j) return -1;
        long long v = num(j, "spec_version");
        json_decref(j);
        if (v >= version) return 0;
        usleep(FOLLOW_POLL_US);
    }
    fprintf(stderr, "mcloud %s: the orchestrator did not load version %lld within %ld s\n", o->cmd, version,
            o->timeout_s);
    return -1;
}

/* Prints an apply's answer; follows the services its diff names. */
static int applied(ops *o, json_t *j) {
    if (o->json) {
        print_json(j);
        return 0;
    }
    const char *diff = str(j, "diff");
    if (!diff[0]) {
        printf("nothing changed (version %lld)\n", num(j, "version"));
        json_decref(j);
        return 0;
    }
    printf("%s", diff);
    if (json_is_true(json_object_get(j, "dry_run"))) {
        json_decref(j);
        return 0;
    }
    printf("applied as version %lld\n", num(j, "version"));
    int rc = 0;
    if (o->wait && wait_loaded(o, num(j, "version")) < 0) rc = 1;
    else if (o->wait) {
        /* every service a line of the diff names, once */
        char seen[1024] = " ";
        for (const char *l = diff; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
            char name[64] = "";
            if (sscanf(l, "+ service %63[a-z0-9-]", name) != 1 && sscanf(l, "~ %63[a-z0-9-].", name) != 1 &&
                sscanf(l, "+ %63[a-z0-9-].", name) != 1 && sscanf(l, "- %63[a-z0-9-].", name) != 1)
                continue;
            char key[70];
            snprintf(key, sizeof key, " %s ", name);
            if (strstr(seen, key)) continue;
            if (strlen(seen) + strlen(name) + 2 < sizeof seen) strcat(strcat(seen, name), " ");
            rc |= follow(o, name);
        }
    }
    json_decref(j);
    return rc;
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    mc_curl_body b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (mc_curl_body_write(chunk, 1, n, &b) != n) break;
    fclose(f);
    return b.p ? b.p : calloc(1, 1);
}

static int cmd_deploy(ops *o, const char *file, bool dry_run) {
    char *text = read_all(file);
    if (!text) {
        fprintf(stderr, "mcloud deploy: cannot read %s\n", file);
        return 1;
    }
    bool failed;
    json_t *j = call(o, "POST", dry_run ? "/v1/spec?dry_run=true" : "/v1/spec", text, NULL, &failed);
    free(text);
    return j ? applied(o, j) : 1;
}

static int cmd_scale(ops *o, const char *service, const char *count) {
    char *end;
    long n = strtol(count, &end, 10);
    if (!*count || *end || n < 0 || n > 99) {
        fprintf(stderr, "mcloud scale: COUNT must be 0-99, got '%s'\n", count);
        return 2;
    }
    char path[160], body[32];
    snprintf(path, sizeof path, "/v1/services/%s/scale", service);
    snprintf(body, sizeof body, "{\"count\":%ld}", n);
    bool failed;
    json_t *j = call(o, "POST", path, body, NULL, &failed);
    return j ? applied(o, j) : 1;
}

/* `mcloud scale SERVICE --min A --max B`: an autoscaled service's bounds. */
static int cmd_scale_bounds(ops *o, const char *service, long min, long max) {
    char path[160], body[64];
    snprintf(path, sizeof path, "/v1/services/%s/scale", service);
    if (min >= 0 && max >= 0) snprintf(body, sizeof body, "{\"min\":%ld,\"max\":%ld}", min, max);
    else if (min >= 0) snprintf(body, sizeof body, "{\"min\":%ld}", min);
    else snprintf(body, sizeof body, "{\"max\":%ld}", max);
    bool failed;
    json_t *j = call(o, "POST", path, body, NULL, &failed);
    return j ? applied(o, j) : 1;
}

/* `mcloud autoscale status`: each policy, its lag and counts, the last
 * decisions (newest first) and why. */
static int cmd_autoscale(ops *o, const char *action) {
    if (strcmp(action, "status") != 0) {
        fprintf(stderr, "mcloud autoscale: unknown action '%s' (status)\n", action);
        return 2;
    }
    bool failed;
    json_t *j = call(o, "GET", "/v1/autoscale", NULL, NULL, &failed);
    if (!j) return 1;
    if (o->json) return print_json(j);
    json_t *list = json_object_get(j, "services");
    if (json_array_size(list) == 0) printf("(no service has a scaling policy)\n");
    else
        printf("%-12s %-24s %-5s %-5s %-6s %-7s %-7s %-6s %s\n", "SERVICE", "TOPIC / GROUP", "MIN", "MAX", "LAG",
               "TARGET", "DESIRED", "ACTUAL", "LAST EVALUATION");
    size_t i, k;
    json_t *s, *d;
    json_array_foreach(list, i, s) {
        json_t *p = json_object_get(s, "policy"), *last = json_object_get(s, "last");
        char tg[80], lag[24];
        snprintf(tg, sizeof tg, "%s/%s", str(p, "topic"), str(p, "group"));
        if (!json_is_object(last)) snprintf(lag, sizeof lag, "-");
        else if (json_is_true(json_object_get(last, "lag_known"))) snprintf(lag, sizeof lag, "%lld", num(last, "lag"));
        else snprintf(lag, sizeof lag, "unknown");
        printf("%-12s %-24s %-5lld %-5lld %-6s %-7lld %-7lld %-6lld %s\n", str(s, "service"), tg, num(p, "min"),
               num(p, "max"), lag, num(p, "lag_per_instance"), num(s, "desired"), num(s, "actual"),
               json_is_object(last) ? str(last, "reason") : "(not evaluated yet)");
        json_t *log = json_object_get(s, "decisions");
        if (json_array_size(log)) printf("  last decisions (newest first):\n");
        json_array_foreach(log, k, d) {
            time_t at = (time_t)(num(d, "at_ms") / 1000);
            struct tm tm;
            char when[32];
            gmtime_r(&at, &tm);
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
            printf("    %s  %lld -> %lld  %s\n", when, num(d, "current"), num(d, "desired"), str(d, "reason"));
        }
    }
    json_decref(j);
    return 0;
}

/* Whether every running copy of service holds and applied limits l
 * (cpus, memory_bytes, pids); prints each one's line once (printed). */
static int limits_applied(ops *o, const char *service, json_t *l, json_t *printed) {
    bool failed;
    json_t *j = call(o, "GET", "/v1/instances", NULL, NULL, &failed);
    if (!j) return -1;
    int pending = 0;
    size_t i, k;
    json_t *in, *r;
    json_array_foreach(json_object_get(j, "instances"), i, in) {
        if (strcmp(str(in, "service"), service) != 0) continue;
        json_array_foreach(json_object_get(in, "running"), k, r) {
            json_t *got = json_object_get(r, "resources");
            bool same = got && json_is_true(json_object_get(got, "applied")) &&
                        json_equal(json_object_get(got, "memory_bytes"), json_object_get(l, "memory_bytes")) &&
                        json_equal(json_object_get(got, "pids"), json_object_get(l, "pids")) &&
                        json_number_value(json_object_get(got, "cpus")) == json_number_value(json_object_get(l, "cpus"));
            char key[200];
            snprintf(key, sizeof key, "%s@%s", str(r, "name"), str(r, "node"));
            if (!same) pending++;
            else if (!json_object_get(printed, key)) {
                printf("%s on %s: %g CPUs, %lld MiB memory, %lld pids applied in place (container %.12s, running "
                       "since %s)\n", str(r, "name"), str(r, "node"), json_number_value(json_object_get(got, "cpus")),
                       num(got, "memory_bytes") >> 20, num(got, "pids"), str(r, "container_id"), str(r, "started_at"));
                json_object_set_new(printed, key, json_true());
            }
        }
    }
    json_decref(j);
    return pending;
}

static int cmd_resources(ops *o, const char *service, const char *cpus, const char *memory, const char *pids) {
    json_t *body = json_object();
    char *end;
    if (cpus) {
        double v = strtod(cpus, &end);
        if (!*cpus || *end) {
            fprintf(stderr, "mcloud resources: --cpus must be a number (e.g. 1.5), got '%s'\n", cpus);
            json_decref(body);
            return 2;
        }
        json_object_set_new(body, "cpus", json_real(v));
    }
    if (memory) json_object_set_new(body, "memory", json_string(memory));
    if (pids) {
        long long v = strtoll(pids, &end, 10);
        if (!*pids || *end) {
            fprintf(stderr, "mcloud resources: --pids must be a whole number, got '%s'\n", pids);
            json_decref(body);
            return 2;
        }
        json_object_set_new(body, "pids", json_integer(v));
    }
    if (!json_object_size(body)) {
        fprintf(stderr, "mcloud resources: give at least one of --cpus, --memory, --pids\n");
        json_decref(body);
        return 2;
    }
    char path[160], *text = mc_json_dump(body);
    json_decref(body);
    snprintf(path, sizeof path, "/v1/services/%s/resources", service);
    bool failed;
    json_t *j = text ? call(o, "POST", path, text, NULL, &failed) : NULL;
    free(text);
    if (!j) return 1;
    if (o->json) return print_json(j);
    if (!json_is_true(json_object_get(j, "changed"))) {
        printf("nothing changed (version %lld)\n", num(j, "version"));
        json_decref(j);
        return 0;
    }
    printf("%sapplied as version %lld: in place, no restart and no rollout\n", str(j, "diff"), num(j, "version"));
    int rc = 0;
    if (o->wait) {
        json_t *printed = json_object();
        time_t until = time(NULL) + o->timeout_s;
        int pending;
        while ((pending = limits_applied(o, service, json_object_get(j, "resources"), printed)) > 0 &&
               time(NULL) < until)
            usleep(FOLLOW_POLL_US);
        if (pending) {
            if (pending > 0)
                fprintf(stderr, "mcloud resources: %d instance(s) of %s without the new limits after %ld s "
                        "(mcloud ps and the agent's log show why)\n", pending, service, o->timeout_s);
            rc = 1;
        }
        json_decref(printed);
    }
    json_decref(j);
    return rc;
}

static int cmd_rollout(ops *o, const char *action, const char *service) {
    char path[160];
    bool failed;
    if (strcmp(action, "status") == 0) {
        snprintf(path, sizeof path, "/v1/services/%s/rollout", service);
        json_t *j = call(o, "GET", path, NULL, NULL, &failed);
        if (!j) return 1;
        if (o->json) return print_json(j);
        printf("%s: version %lld -> %lld, %s (%s), %lld/%lld healthy\n", service, num(j, "from"), num(j, "to"),
               str(j, "status"), str(j, "detail"), num(j, "healthy"), num(j, "count"));
        json_decref(j);
        return 0;
    }
    if (strcmp(action, "promote") != 0 && strcmp(action, "undo") != 0) return 2;
    snprintf(path, sizeof path, "/v1/services/%s/%s", service, action);
    json_t *j = call(o, "POST", path, "{}", NULL, &failed);
    if (!j) return 1;
    if (strcmp(action, "undo") == 0) return applied(o, j);
    if (o->json) return print_json(j);
    printf("%s: promoted version %lld\n", service, num(j, "version"));
    json_decref(j);
    return o->wait ? follow(o, service) : 0;
}

static int cmd_drain(ops *o, const char *node, bool undo) {
    char path[160];
    snprintf(path, sizeof path, "/v1/nodes/%s/drain", node);
    bool failed;
    json_t *j = call(o, "POST", path, undo ? "{\"drain\":false}" : "{\"drain\":true}", NULL, &failed);
    if (!j) return 1;
    if (o->json) return print_json(j);
    printf("%s: %s\n", node, undo ? "back in service" : "draining (its instances move to other nodes)");
    json_decref(j);
    return 0;
}

static int cmd_logs(ops *o, const char *what) {
    bool failed;
    json_t *j = call(o, "GET", "/v1/instances", NULL, NULL, &failed);
    if (!j) return 1;
    int rc = 0, found = 0;
    size_t i;
    json_t *in;
    json_array_foreach(json_object_get(j, "instances"), i, in) {
        if (strcmp(str(in, "name"), what) != 0 && strcmp(str(in, "service"), what) != 0) continue;
        if (json_array_size(json_object_get(in, "running")) == 0) continue;
        char path[200], *text;
        snprintf(path, sizeof path, "/v1/instances/%s/logs?tail=%ld", str(in, "name"), o->tail);
        found++;
        if (!call(o, "GET", path, NULL, &text, &failed) && failed) {
            rc = 1;
            continue;
        }
        for (char *l = text, *nl; l && *l; l = nl ? nl + 1 : NULL) {
            nl = strchr(l, '\n');
            printf("%s | %.*s\n", str(in, "name"), nl ? (int)(nl - l) : (int)strlen(l), l);
        }
        free(text);
    }
    json_decref(j);
    if (!found) {
        fprintf(stderr, "mcloud logs: no running instance of '%s'\n", what);
        return 1;
    }
    return rc;
}

static int cmd_status(ops *o) {
    bool failed;
    json_t *j = call(o, "GET", "/v1/status", NULL, NULL, &failed);
    if (!j) return 1;
    if (o->json) return print_json(j);
    printf("%s %s, fence %lld, spec version %lld\n", str(j, "instance"), str(j, "role"), num(j, "fence"),
           num(j, "spec_version"));
    json_decref(j);
    return 0;
}

/* The spec versions applied, newest first: who, when, why and each one's
 * diff (what `mcloud rollout undo` goes back through). */
static int cmd_history(ops *o) {
    bool failed;
    json_t *j = call(o, "GET", "/v1/spec/versions", NULL, NULL, &failed);
    if (!j) return 1;
    if (o->json) return print_json(j);
    printf("%-8s %-28s %-12s %s\n", "VERSION", "APPLIED", "BY", "REASON");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(j, "versions"), i, v) {
        printf("%-8lld %-28s %-12s %s\n", num(v, "version"), str(v, "applied_at"), str(v, "applied_by"),
               str(v, "reason"));
        const char *d = str(v, "diff");
        while (*d) {
            size_t n = strcspn(d, "\n");
            if (n) printf("    %.*s\n", (int)n, d);
            d += n + (d[n] == '\n');
        }
    }
    json_decref(j);
    return 0;
}

static const char *const commands[] = {"ps",     "nodes",   "top",       "scale",    "deploy",
                                       "rollout", "drain", "logs",    "status",    "history",  "autoscale",
                                       "resources", NULL};

bool mc_cli_is_ops(const char *cmd) {
    for (int i = 0; commands[i]; i++)
        if (strcmp(cmd, commands[i]) == 0) return true;
    return false;
}

void mc_cli_ops_usage(void) {
    fprintf(stderr,
            "operator commands (mcloud-orchestrator at MCLOUD_ORCHESTRATOR_URL, token MCLOUD_OPERATOR_TOKEN):\n"
            "       mcloud ps | nodes | status          instances, nodes, the orchestrator\n"
            "       mcloud top                          CPU and memory of every container (from its cgroup)\n"
            "       mcloud deploy [FILE] [--dry-run]    apply a spec (default deploy/mcloud.yaml), follow the rollout\n"
            "       mcloud scale SERVICE N              run N instances of SERVICE\n"
            "       mcloud scale SERVICE --min A --max B  the bounds of an autoscaled SERVICE\n"
            "       mcloud autoscale status             each scaling policy: lag, desired/actual, last decisions\n"
            "       mcloud resources SERVICE [--cpus N] [--memory SIZE] [--pids N]\n"
            "                                           new limits for the running instances, in place\n"
            "       mcloud rollout status|promote|undo SERVICE\n"
            "       mcloud history                      the spec versions applied: who, when, why, the diff\n"
            "       mcloud drain NODE [--undo]          move every instance off NODE (or take it back)\n"
            "       options: --json (the API's JSON), --no-wait, --timeout SECONDS (default 600)\n");
}

int mc_cli_ops(int argc, char **argv) {
    ops o = {.cmd = argv[1], .wait = true, .timeout_s = 600, .tail = 100};
    const char *args[3] = {NULL, NULL, NULL};
    int nargs = 0;
    bool dry_run = false, undo = false;
    long min = -1, max = -1;
    const char *cpus = NULL, *memory = NULL, *pids = NULL;
    for (int i = 2; i < argc; i++) {
        char *end;
        if (strcmp(argv[i], "--json") == 0) o.json = true;
        else if ((strcmp(argv[i], "--min") == 0 || strcmp(argv[i], "--max") == 0) && i + 1 < argc) {
            long v = strtol(argv[i + 1], &end, 10);
            if (!*argv[i + 1] || *end || v < 0 || v > 99) {
                fprintf(stderr, "mcloud %s: %s must be 0-99, got '%s'\n", argv[1], argv[i], argv[i + 1]);
                return 2;
            }
            *(strcmp(argv[i], "--min") == 0 ? &min : &max) = v;
            i++;
        }
        else if (strcmp(argv[i], "--cpus") == 0 && i + 1 < argc) cpus = argv[++i];
        else if (strcmp(argv[i], "--memory") == 0 && i + 1 < argc) memory = argv[++i];
        else if (strcmp(argv[i], "--pids") == 0 && i + 1 < argc) pids = argv[++i];
        else if (strcmp(argv[i], "--no-wait") == 0) o.wait = false;
        else if (strcmp(argv[i], "--dry-run") == 0) dry_run = true;
        else if (strcmp(argv[i], "--undo") == 0) undo = true;
        else if (strcmp(argv[i], "--engine") == 0 && strcmp(argv[1], "logs") == 0) continue; /* logs.c sends it here */
        else if ((strcmp(argv[i], "--timeout") == 0 || strcmp(argv[i], "--tail") == 0) && i + 1 < argc) {
            long v = strtol(argv[i + 1], &end, 10);
            if (*end || v < 1 || v > 100000) {
                mc_cli_ops_usage();
                return 2;
            }
            *(strcmp(argv[i], "--tail") == 0 ? &o.tail : &o.timeout_s) = v;
            i++;
        } else if (argv[i][0] == '-' || nargs == 3) {
            mc_cli_ops_usage();
            return 2;
        } else args[nargs++] = argv[i];
    }
    const char *c = o.cmd;
    bool bounds = min >= 0 || max >= 0;
    int want = strcmp(c, "scale") == 0 ? (bounds ? 1 : 2)
               : strcmp(c, "rollout") == 0 ? 2
               : strcmp(c, "drain") == 0 || strcmp(c, "logs") == 0 || strcmp(c, "autoscale") == 0 ||
                         strcmp(c, "resources") == 0
                     ? 1
               : strcmp(c, "deploy") == 0 ? (nargs > 1 ? -1 : nargs)
                                           : 0;
    if (nargs != want || (bounds && strcmp(c, "scale") != 0)) {
        mc_cli_ops_usage();
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    o.cfg = mc_config_load(NULL, NULL);
    if (!o.cfg) return 1;
    snprintf(o.url, sizeof o.url, "%s", mc_config_get(o.cfg, "orchestrator.url"));
    size_t n = strlen(o.url);
    while (n && o.url[n - 1] == '/') o.url[--n] = '\0';
    o.token = operator_token(o.cfg);
    int rc;
    if (strcmp(c, "ps") == 0) rc = cmd_ps(&o);
    else if (strcmp(c, "nodes") == 0) rc = cmd_nodes(&o);
    else if (strcmp(c, "top") == 0) rc = cmd_top(&o);
    else if (strcmp(c, "status") == 0) rc = cmd_status(&o);
    else if (strcmp(c, "history") == 0) rc = cmd_history(&o);
    else if (strcmp(c, "deploy") == 0) rc = cmd_deploy(&o, nargs ? args[0] : "deploy/mcloud.yaml", dry_run);
    else if (strcmp(c, "scale") == 0) rc = bounds ? cmd_scale_bounds(&o, args[0], min, max) : cmd_scale(&o, args[0], args[1]);
    else if (strcmp(c, "autoscale") == 0) {
        rc = cmd_autoscale(&o, args[0]);
        if (rc == 2) mc_cli_ops_usage();
    }
    else if (strcmp(c, "resources") == 0) rc = cmd_resources(&o, args[0], cpus, memory, pids);
    else if (strcmp(c, "rollout") == 0) {
        rc = cmd_rollout(&o, args[0], args[1]);
        if (rc == 2) mc_cli_ops_usage();
    } else if (strcmp(c, "drain") == 0) rc = cmd_drain(&o, args[0], undo);
    else rc = cmd_logs(&o, args[0]);
    free(o.token);
    mc_config_free(o.cfg);
    curl_global_cleanup();
    return rc;
}
