/* docker.c — the Docker Engine API client (see docker.h): pure request
 * builders and response parsers first, then the calls over the engine's unix
 * socket with libcurl (one easy handle per client, reused, so a busy agent
 * keeps one connection). */
#include "common/docker.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json.h"

struct mc_docker {
    CURL *curl;
    char socket_path[256];
};

/* ---- pure -------------------------------------------------------------------- */

static int add_kv_object(json_t *obj, const char *what, const mc_docker_kv *kv, size_t n,
                         mc_err *err) {
    for (size_t i = 0; i < n; i++) {
        if (!kv[i].key || !kv[i].key[0] || !kv[i].value)
            return mc_err_set(err, MC_ERR_INVALID, "%s[%zu]: empty name or no value", what, i);
        if (json_object_set_new(obj, kv[i].key, json_string(kv[i].value)) < 0)
            return mc_err_set(err, MC_ERR_INVALID, "%s '%s': not UTF-8", what, kv[i].key);
    }
    return 0;
}

static int add_env(json_t *arr, const mc_docker_kv *env, size_t n, mc_err *err) {
    for (size_t i = 0; i < n; i++) {
        if (!env[i].key || !env[i].key[0] || strchr(env[i].key, '=') || !env[i].value)
            return mc_err_set(err, MC_ERR_INVALID, "env[%zu]: bad variable name", i);
        size_t len = strlen(env[i].key) + strlen(env[i].value) + 2;
        char *s = malloc(len);
        if (!s) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        snprintf(s, len, "%s=%s", env[i].key, env[i].value);
        int rc = json_array_append_new(arr, json_string(s));
        free(s);
        if (rc < 0) return mc_err_set(err, MC_ERR_INVALID, "env '%s': not UTF-8", env[i].key);
    }
    return 0;
}

json_t *mc_docker_create_body(const mc_docker_spec *spec, mc_err *err) {
    if (!spec->image || !spec->image[0]) {
        mc_err_set(err, MC_ERR_INVALID, "image: missing");
        return NULL;
    }
    if (spec->memory_bytes < 0 || spec->nano_cpus < 0 || spec->pids_limit < 0) {
        mc_err_set(err, MC_ERR_INVALID, "resources: negative limit");
        return NULL;
    }
    json_t *body = json_object(), *env = json_array(), *labels = json_object();
    json_t *host = json_object(), *ulimits = json_array(), *mounts = json_array();
    json_t *nproc = json_pack("{s:s,s:I,s:I}", "Name", "nproc", "Soft", (json_int_t)MC_DOCKER_NPROC,
                              "Hard", (json_int_t)MC_DOCKER_NPROC);
    json_t *nofile = json_pack("{s:s,s:I,s:I}", "Name", "nofile", "Soft",
                               (json_int_t)MC_DOCKER_NOFILE, "Hard", (json_int_t)MC_DOCKER_NOFILE);
    if (!body || !env || !labels || !host || !ulimits || !mounts || !nproc || !nofile) {
        mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        goto fail;
    }
    json_array_append_new(ulimits, nproc);
    json_array_append_new(ulimits, nofile);
    nproc = nofile = NULL;
    if (add_env(env, spec->env, spec->nenv, err) < 0 ||
        add_kv_object(labels, "labels", spec->labels, spec->nlabels, err) < 0)
        goto fail;
    for (size_t i = 0; i < spec->nvolumes; i++) {
        const mc_docker_volume *v = &spec->volumes[i];
        if (!v->name || !v->name[0] || !v->target || v->target[0] != '/') {
            mc_err_set(err, MC_ERR_INVALID, "volumes[%zu]: needs a name and an absolute target", i);
            goto fail;
        }
        json_array_append_new(mounts, json_pack("{s:s,s:s,s:s}", "Type", "volume", "Source",
                                                v->name, "Target", v->target));
    }
    json_object_set_new(body, "Image", json_string(spec->image));
    if (spec->cmd) {
        json_t *cmd = json_array();
        for (size_t i = 0; spec->cmd[i]; i++) json_array_append_new(cmd, json_string(spec->cmd[i]));
        json_object_set_new(body, "Cmd", cmd);
    }
    json_object_set_new(body, "Env", env);
    json_object_set_new(body, "Labels", labels);
    if (spec->stop_timeout_s > 0)
        json_object_set_new(body, "StopTimeout", json_integer(spec->stop_timeout_s));
    json_object_set_new(host, "NetworkMode", json_string("host"));
    json_object_set_new(host, "Memory", json_integer(spec->memory_bytes));
    json_object_set_new(host, "NanoCpus", json_integer(spec->nano_cpus));
    if (spec->pids_limit > 0) json_object_set_new(host, "PidsLimit", json_integer(spec->pids_limit));
    json_object_set_new(host, "Ulimits", ulimits);
    json_object_set_new(host, "Mounts", mounts);
    json_object_set_new(host, "RestartPolicy", json_pack("{s:s}", "Name", "no"));
    json_object_set_new(body, "HostConfig", host);
    return body;
fail:
    json_decref(body);
    json_decref(env);
    json_decref(labels);
    json_decref(host);
    json_decref(ulimits);
    json_decref(mounts);
    json_decref(nproc);
    json_decref(nofile);
    return NULL;
}

char *mc_docker_label_filter(const char *const *labels, size_t n) {
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(arr, json_string(labels[i]));
    json_t *f = json_pack("{s:o}", "label", arr);
    char *raw = f ? json_dumps(f, JSON_COMPACT) : NULL;
    json_decref(f);
    if (!raw) return NULL;
    char *out = curl_easy_escape(NULL, raw, 0);
    free(raw);
    if (!out) return NULL;
    char *copy = strdup(out); /* callers free() it, not curl_free() */
    curl_free(out);
    return copy;
}

static void copy_str(char *dst, size_t cap, json_t *v) {
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    snprintf(dst, cap, "%s", s);
}

static void fill_labels(mc_docker_container *c, json_t *labels) {
    c->labels = json_is_object(labels) ? json_incref(labels) : json_object();
}

int mc_docker_parse_inspect(const char *body, size_t len, mc_docker_container *out, mc_err *err) {
    memset(out, 0, sizeof *out);
    json_t *root = mc_json_parse_object(body, len, err);
    if (!root) return mc_err_wrap(err, "engine inspect");
    json_t *state = json_object_get(root, "State"), *config = json_object_get(root, "Config");
    if (!json_is_string(json_object_get(root, "Id")) || !json_is_object(state)) {
        json_decref(root);
        return mc_err_set(err, MC_ERR_REMOTE, "engine inspect: no Id or State");
    }
    copy_str(out->id, sizeof out->id, json_object_get(root, "Id"));
    const char *name = json_string_value(json_object_get(root, "Name"));
    if (name && name[0] == '/') name++;
    snprintf(out->name, sizeof out->name, "%s", name ? name : "");
    copy_str(out->state, sizeof out->state, json_object_get(state, "Status"));
    out->running = json_is_true(json_object_get(state, "Running"));
    out->pid = (int)json_integer_value(json_object_get(state, "Pid"));
    out->exit_code = (int)json_integer_value(json_object_get(state, "ExitCode"));
    copy_str(out->started_at, sizeof out->started_at, json_object_get(state, "StartedAt"));
    copy_str(out->finished_at, sizeof out->finished_at, json_object_get(state, "FinishedAt"));
    copy_str(out->image, sizeof out->image, json_object_get(config, "Image"));
    fill_labels(out, json_object_get(config, "Labels"));
    json_decref(root);
    return 0;
}

int mc_docker_parse_list(const char *body, size_t len, mc_docker_container **out, size_t *count,
                         mc_err *err) {
    *out = NULL;
    *count = 0;
    json_error_t jerr;
    json_t *arr = json_loadb(body, len, 0, &jerr);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return mc_err_set(err, MC_ERR_REMOTE, "engine list: not a JSON array");
    }
    size_t n = json_array_size(arr);
    mc_docker_container *list = calloc(n ? n : 1, sizeof *list);
    if (!list) {
        json_decref(arr);
        return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        if (!json_is_object(o) || !json_is_string(json_object_get(o, "Id"))) continue;
        mc_docker_container *c = &list[k++];
        copy_str(c->id, sizeof c->id, json_object_get(o, "Id"));
        const char *name = json_string_value(json_array_get(json_object_get(o, "Names"), 0));
        if (name && name[0] == '/') name++;
        snprintf(c->name, sizeof c->name, "%s", name ? name : "");
        copy_str(c->image, sizeof c->image, json_object_get(o, "Image"));
        copy_str(c->state, sizeof c->state, json_object_get(o, "State"));
        c->running = strcmp(c->state, "running") == 0;
        fill_labels(c, json_object_get(o, "Labels"));
    }
    json_decref(arr);
    *out = list;
    *count = k;
    return 0;
}

int mc_docker_parse_event(const char *line, size_t len, mc_docker_event *out, mc_err *err) {
    memset(out, 0, sizeof *out);
    out->exit_code = -1;
    json_t *o = mc_json_parse_object(line, len, err);
    if (!o) return mc_err_wrap(err, "engine event");
    json_t *actor = json_object_get(o, "Actor");
    json_t *attrs = json_object_get(actor, "Attributes");
    copy_str(out->type, sizeof out->type, json_object_get(o, "Type"));
    json_t *action = json_object_get(o, "Action");
    copy_str(out->action, sizeof out->action, action ? action : json_object_get(o, "status"));
    json_t *id = json_object_get(actor, "ID");
    copy_str(out->id, sizeof out->id, id ? id : json_object_get(o, "id"));
    copy_str(out->name, sizeof out->name, json_object_get(attrs, "name"));
    json_t *code = json_object_get(attrs, "exitCode");
    if (json_is_string(code)) out->exit_code = atoi(json_string_value(code));
    else if (json_is_integer(code)) out->exit_code = (int)json_integer_value(code);
    out->time = (long long)json_integer_value(json_object_get(o, "time"));
    json_decref(o);
    if (!out->action[0] || !out->id[0])
        return mc_err_set(err, MC_ERR_REMOTE, "engine event: no action or id");
    return 0;
}

size_t mc_docker_demux_logs(const unsigned char *in, size_t len, char *out, size_t cap) {
    if (cap == 0) return 0;
    size_t o = 0;
    bool framed = len >= 8 && in[0] <= 2 && in[1] == 0 && in[2] == 0 && in[3] == 0;
    if (!framed) {
        o = len < cap - 1 ? len : cap - 1;
        memcpy(out, in, o);
        out[o] = '\0';
        return o;
    }
    size_t i = 0;
    while (i + 8 <= len) {
        size_t n = ((size_t)in[i + 4] << 24) | ((size_t)in[i + 5] << 16) |
                   ((size_t)in[i + 6] << 8) | in[i + 7];
        i += 8;
        if (n > len - i) n = len - i; /* a truncated last frame: keep what came */
        size_t take = n < cap - 1 - o ? n : cap - 1 - o;
        memcpy(out + o, in + i, take);
        o += take;
        i += n;
    }
    out[o] = '\0';
    return o;
}

void mc_docker_container_clear(mc_docker_container *c) {
    json_decref(c->labels);
    c->labels = NULL;
}

void mc_docker_containers_free(mc_docker_container *list, size_t count) {
    for (size_t i = 0; list && i < count; i++) mc_docker_container_clear(&list[i]);
    free(list);
}

/* ---- the engine ------------------------------------------------------------ */

typedef struct buf {
    char *data;
    size_t len, cap;
    size_t max;
} buf;

static size_t buf_write(char *p, size_t size, size_t nmemb, void *arg) {
    buf *b = arg;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->max) return 0; /* an engine answer this large is a bug */
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) return 0;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

mc_docker *mc_docker_new(const char *socket_path, mc_err *err) {
    if (!socket_path || !socket_path[0] || strlen(socket_path) >= sizeof ((mc_docker *)0)->socket_path) {
        mc_err_set(err, MC_ERR_INVALID, "engine socket path missing or too long");
        return NULL;
    }
    mc_docker *d = calloc(1, sizeof *d);
    if (!d || !(d->curl = curl_easy_init())) {
        free(d);
        mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    snprintf(d->socket_path, sizeof d->socket_path, "%s", socket_path);
    return d;
}

void mc_docker_free(mc_docker *d) {
    if (!d) return;
    curl_easy_cleanup(d->curl);
    free(d);
}

/* One request: method, path under the API version, optional JSON body.
 * The answer's status goes to *status and its body into resp. */
static int request(mc_docker *d, const char *method, const char *path, const json_t *body,
                   long timeout_ms, long *status, buf *resp, mc_err *err) {
    char url[1024];
    /* podman's own API (/libpod/...) has its own version line */
    const char *version = strncmp(path, "/libpod/", 8) == 0 ? MC_DOCKER_LIBPOD_VERSION : MC_DOCKER_API_VERSION;
    if ((size_t)snprintf(url, sizeof url, "http://localhost/%s%s", version, path) >=
        sizeof url)
        return mc_err_set(err, MC_ERR_INVALID, "engine request path too long");
    char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body && !payload) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    CURL *c = d->curl;
    curl_easy_reset(c);
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, d->socket_path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    if (payload) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    }
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(hdr);
    free(payload);
    if (rc != CURLE_OK)
        return mc_err_set(err, MC_ERR_UNAVAILABLE, "engine %s %s (socket %s): %s", method, path,
                          d->socket_path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

/* Maps an engine error answer ({"message":...}) to an mc_err. */
static int engine_error(long status, const buf *resp, const char *what, mc_err *err) {
    const char *msg = "";
    json_t *o = resp->data ? json_loads(resp->data, 0, NULL) : NULL;
    if (json_is_string(json_object_get(o, "message"))) msg = json_string_value(json_object_get(o, "message"));
    mc_err_kind kind = status == 404 ? MC_ERR_NOT_FOUND
                       : status == 409 ? MC_ERR_CONFLICT
                       : status == 400 ? MC_ERR_INVALID
                                       : MC_ERR_REMOTE;
    /* podman answers a taken name with 500 "... is already in use" */
    if (kind == MC_ERR_REMOTE && strstr(msg, "already in use")) kind = MC_ERR_CONFLICT;
    int rc = mc_err_set(err, kind, "engine %s: HTTP %ld %s", what, status, msg);
    if (err) err->status = (int)status;
    json_decref(o);
    return rc;
}

/* A call whose answer must be one of the ok statuses; the body stays in resp. */
static int call(mc_docker *d, const char *method, const char *path, const json_t *body,
                long timeout_ms, long ok1, long ok2, buf *resp, const char *what, mc_err *err) {
    long status = 0;
    resp->max = resp->max ? resp->max : 64 * 1024 * 1024;
    if (request(d, method, path, body, timeout_ms, &status, resp, err) < 0) return -1;
    if (status != ok1 && status != ok2) return engine_error(status, resp, what, err);
    return 0;
}

static int escape_id(const char *id, char *out, size_t cap, mc_err *err) {
    if (!id || !id[0] || strlen(id) >= cap || strspn(id, "abcdefghijklmnopqrstuvwxyz"
                                                          "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(id))
        return mc_err_set(err, MC_ERR_INVALID, "container id or name '%s' is not valid", id ? id : "");
    snprintf(out, cap, "%s", id);
    return 0;
}

int mc_docker_ping(mc_docker *d, mc_err *err) {
    buf resp = {0};
    int rc = call(d, "GET", "/_ping", NULL, 5000, 200, 200, &resp, "ping", err);
    free(resp.data);
    return rc;
}

int mc_docker_create(mc_docker *d, const char *name, const mc_docker_spec *spec,
                     char id_out[MC_DOCKER_ID_MAX], mc_err *err) {
    char safe[MC_DOCKER_NAME_MAX], path[MC_DOCKER_NAME_MAX + 64];
    if (escape_id(name, safe, sizeof safe, err) < 0) return -1;
    json_t *body = mc_docker_create_body(spec, err);
    if (!body) return -1;
    snprintf(path, sizeof path, "/containers/create?name=%s", safe);
    buf resp = {0};
    int rc = call(d, "POST", path, body, 60000, 201, 200, &resp, "create", err);
    json_decref(body);
    if (rc == 0) {
        json_t *o = resp.data ? json_loads(resp.data, 0, NULL) : NULL;
        const char *id = json_string_value(json_object_get(o, "Id"));
        if (id) snprintf(id_out, MC_DOCKER_ID_MAX, "%s", id);
        else rc = mc_err_set(err, MC_ERR_REMOTE, "engine create: no Id in the answer");
        json_decref(o);
    }
    free(resp.data);
    return rc;
}

static int simple(mc_docker *d, const char *method, const char *fmt, const char *id,
                  const char *extra, long timeout_ms, long ok1, long ok2, const char *what,
                  mc_err *err) {
    char safe[MC_DOCKER_ID_MAX + MC_DOCKER_NAME_MAX], path[512];
    if (escape_id(id, safe, sizeof safe, err) < 0) return -1;
    snprintf(path, sizeof path, fmt, safe, extra ? extra : "");
    buf resp = {0};
    int rc = call(d, method, path, NULL, timeout_ms, ok1, ok2, &resp, what, err);
    free(resp.data);
    return rc;
}

int mc_docker_start(mc_docker *d, const char *id, mc_err *err) {
    return simple(d, "POST", "/containers/%s/start%s", id, NULL, 60000, 204, 304, "start", err);
}

int mc_docker_stop(mc_docker *d, const char *id, int timeout_s, mc_err *err) {
    char q[32];
    snprintf(q, sizeof q, "?t=%d", timeout_s < 0 ? 0 : timeout_s);
    return simple(d, "POST", "/containers/%s/stop%s", id, q, (timeout_s + 30) * 1000L, 204, 304,
                  "stop", err);
}

int mc_docker_kill(mc_docker *d, const char *id, const char *signal, mc_err *err) {
    char q[48];
    if (!signal || strspn(signal, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != strlen(signal) ||
        strlen(signal) > 16)
        return mc_err_set(err, MC_ERR_INVALID, "kill: bad signal name");
    snprintf(q, sizeof q, "?signal=%s", signal);
    return simple(d, "POST", "/containers/%s/kill%s", id, q, 30000, 204, 204, "kill", err);
}

int mc_docker_remove(mc_docker *d, const char *id, bool force, mc_err *err) {
    return simple(d, "DELETE", "/containers/%s%s", id, force ? "?force=1&v=1" : "?v=1", 60000, 204,
                  204, "remove", err);
}

json_t *mc_docker_update_body(int64_t memory_bytes, int64_t nano_cpus, int64_t pids_limit) {
    json_t *b = json_object();
    if (memory_bytes > 0)
        json_object_set_new(b, "memory", json_pack("{s:I,s:I}", "limit", (json_int_t)memory_bytes, "swap",
                                                   (json_int_t)(memory_bytes * 2)));
    if (nano_cpus > 0) /* quota per period, both in microseconds */
        json_object_set_new(b, "cpu", json_pack("{s:I,s:I}", "quota", (json_int_t)(nano_cpus / 10000), "period",
                                                (json_int_t)100000));
    if (pids_limit > 0) json_object_set_new(b, "pids", json_pack("{s:I}", "limit", (json_int_t)pids_limit));
    return b;
}

int mc_docker_update(mc_docker *d, const char *id, int64_t memory_bytes, int64_t nano_cpus, int64_t pids_limit,
                     mc_err *err) {
    char safe[MC_DOCKER_ID_MAX], path[MC_DOCKER_ID_MAX + 48];
    if (escape_id(id, safe, sizeof safe, err) < 0) return -1;
    json_t *body = mc_docker_update_body(memory_bytes, nano_cpus, pids_limit);
    snprintf(path, sizeof path, "/libpod/containers/%s/update", safe);
    buf resp = {0};
    mc_err first = {0};
    int rc = call(d, "POST", path, body, 60000, 201, 200, &resp, "update", &first);
    json_decref(body);
    free(resp.data);
    bool no_libpod = rc < 0 && first.status == 404 && !strstr(first.msg, "no such container");
    if (!no_libpod) {
        if (rc < 0 && err) *err = first;
        return rc;
    }
    /* a Docker engine: its own update (HostConfig resources) */
    body = json_object();
    if (memory_bytes > 0) {
        json_object_set_new(body, "Memory", json_integer(memory_bytes));
        json_object_set_new(body, "MemorySwap", json_integer(memory_bytes * 2));
    }
    if (nano_cpus > 0) json_object_set_new(body, "NanoCpus", json_integer(nano_cpus));
    if (pids_limit > 0) json_object_set_new(body, "PidsLimit", json_integer(pids_limit));
    snprintf(path, sizeof path, "/containers/%s/update", safe);
    memset(&resp, 0, sizeof resp);
    rc = call(d, "POST", path, body, 60000, 200, 200, &resp, "update", err);
    json_decref(body);
    free(resp.data);
    return rc;
}

int mc_docker_inspect(mc_docker *d, const char *id, mc_docker_container *out, mc_err *err) {
    char safe[MC_DOCKER_NAME_MAX], path[MC_DOCKER_NAME_MAX + 32];
    memset(out, 0, sizeof *out);
    if (escape_id(id, safe, sizeof safe, err) < 0) return -1;
    snprintf(path, sizeof path, "/containers/%s/json", safe);
    buf resp = {0};
    int rc = call(d, "GET", path, NULL, 30000, 200, 200, &resp, "inspect", err);
    if (rc == 0) rc = mc_docker_parse_inspect(resp.data ? resp.data : "", resp.len, out, err);
    free(resp.data);
    return rc;
}

int mc_docker_list(mc_docker *d, const char *const *labels, size_t nlabels,
                   mc_docker_container **out, size_t *count, mc_err *err) {
    *out = NULL;
    *count = 0;
    char *filter = mc_docker_label_filter(labels, nlabels);
    if (!filter) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    size_t plen = strlen(filter) + 64;
    char *path = malloc(plen);
    if (!path) {
        free(filter);
        return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    }
    snprintf(path, plen, "/containers/json?all=1&filters=%s", filter);
    free(filter);
    buf resp = {0};
    int rc = call(d, "GET", path, NULL, 30000, 200, 200, &resp, "list", err);
    free(path);
    if (rc == 0) rc = mc_docker_parse_list(resp.data ? resp.data : "", resp.len, out, count, err);
    free(resp.data);
    return rc;
}

int mc_docker_logs(mc_docker *d, const char *id, int tail, char *out, size_t cap, mc_err *err) {
    char q[64];
    snprintf(q, sizeof q, "?stdout=1&stderr=1&tail=%d", tail < 0 ? 100 : tail);
    char safe[MC_DOCKER_NAME_MAX], path[MC_DOCKER_NAME_MAX + 96];
    if (escape_id(id, safe, sizeof safe, err) < 0) return -1;
    snprintf(path, sizeof path, "/containers/%s/logs%s", safe, q);
    buf resp = {.max = 16 * 1024 * 1024};
    int rc = call(d, "GET", path, NULL, 30000, 200, 200, &resp, "logs", err);
    if (rc == 0) mc_docker_demux_logs((const unsigned char *)(resp.data ? resp.data : ""), resp.len, out, cap);
    free(resp.data);
    return rc;
}

int mc_docker_logs_since(mc_docker *d, const char *id, long long since_s, char **out, size_t *len, mc_err *err) {
    char safe[MC_DOCKER_NAME_MAX], path[MC_DOCKER_NAME_MAX + 128];
    *out = NULL;
    *len = 0;
    if (escape_id(id, safe, sizeof safe, err) < 0) return -1;
    snprintf(path, sizeof path, "/containers/%s/logs?stdout=1&stderr=1&timestamps=1&since=%lld", safe,
             since_s < 0 ? 0 : since_s);
    buf resp = {.max = 16 * 1024 * 1024};
    int rc = call(d, "GET", path, NULL, 30000, 200, 200, &resp, "logs", err);
    if (rc == 0) {
        size_t cap = resp.len + 1;
        if (!(*out = malloc(cap))) rc = mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        else *len = mc_docker_demux_logs((const unsigned char *)(resp.data ? resp.data : ""), resp.len, *out, cap);
    }
    free(resp.data);
    return rc;
}

/* ---- the event stream ---- */

typedef struct event_ctx {
    buf line;
    mc_docker_event_fn fn;
    void *arg;
    int stopped;
} event_ctx;

static size_t event_write(char *p, size_t size, size_t nmemb, void *arg) {
    event_ctx *ctx = arg;
    size_t n = size * nmemb;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\n') {
            char ch = p[i];
            if (buf_write(&ch, 1, 1, &ctx->line) != 1) return 0;
            continue;
        }
        mc_docker_event ev;
        mc_err perr = {0};
        if (ctx->line.len && mc_docker_parse_event(ctx->line.data, ctx->line.len, &ev, &perr) == 0 &&
            ctx->fn(&ev, ctx->arg) != 0) {
            ctx->stopped = 1;
            return 0; /* ends the transfer */
        }
        ctx->line.len = 0;
    }
    return n;
}

/* libcurl calls it about once a second even when nothing comes. */
static int event_idle(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    event_ctx *ctx = arg;
    if (ctx->fn(NULL, ctx->arg) == 0) return 0;
    ctx->stopped = 1;
    return 1; /* aborts the transfer */
}

int mc_docker_events(mc_docker *d, const char *const *labels, size_t nlabels, long timeout_ms,
                     mc_docker_event_fn fn, void *arg, mc_err *err) {
    char *filter = mc_docker_label_filter(labels, nlabels);
    if (!filter) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    size_t ulen = strlen(filter) + 128;
    char *url = malloc(ulen);
    if (!url) {
        free(filter);
        return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    }
    snprintf(url, ulen, "http://localhost/%s/events?filters=%s", MC_DOCKER_API_VERSION, filter);
    free(filter);
    event_ctx ctx = {.line = {.max = 1024 * 1024}, .fn = fn, .arg = arg};
    CURL *c = d->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, d->socket_path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, event_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &ctx);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, event_idle);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &ctx);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    CURLcode rc = curl_easy_perform(c);
    free(url);
    free(ctx.line.data);
    if (ctx.stopped || rc == CURLE_OK || (rc == CURLE_OPERATION_TIMEDOUT && timeout_ms > 0)) return 0;
    return mc_err_set(err, MC_ERR_UNAVAILABLE, "engine events (socket %s): %s", d->socket_path,
                      curl_easy_strerror(rc));
}
