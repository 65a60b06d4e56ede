/* Integration test of common/docker against a real engine: the test starts
 * its own `podman system service` on a private unix socket, drives containers
 * of the local base image (scripts/base-image.sh) through the Docker Engine
 * API and removes every container carrying its label afterwards, also when a
 * test fails (group teardown). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/docker.h"

#define IMAGE "localhost/mcloud-base:latest"

static pid_t service_pid;
static char dir[128], sock[192], label[64], label_kv[96];
static mc_docker *engine;

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void cleanup_containers(void) {
    if (engine) {
        const char *labels[] = {label};
        mc_docker_container *list = NULL;
        size_t n = 0;
        mc_err err = {0};
        if (mc_docker_list(engine, labels, 1, &list, &n, &err) == 0)
            for (size_t i = 0; i < n; i++) mc_docker_remove(engine, list[i].id, true, &err);
        mc_docker_containers_free(list, n);
    }
    /* the engine's client too, in case the service is what failed */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "podman rm -f --filter label=%s >/dev/null 2>&1", label);
    if (system(cmd) != 0) { /* nothing left is fine */ }
}

static int teardown(void **state);

static int setup(void **state) {
    (void)state;
    if (system("command -v podman >/dev/null") != 0) {
        fprintf(stderr, "podman is not installed: run scripts/bootstrap.sh (apt step)\n");
        return -1;
    }
    if (system("podman image exists " IMAGE) != 0) {
        fprintf(stderr, "image %s missing: run scripts/base-image.sh --minbase mcloud-base\n", IMAGE);
        return -1;
    }
    snprintf(dir, sizeof dir, "/tmp/mcloud-docker-test.%d", (int)getpid());
    snprintf(sock, sizeof sock, "%s/podman.sock", dir);
    snprintf(label, sizeof label, "mcloud.test=docker-%d", (int)getpid());
    snprintf(label_kv, sizeof label_kv, "docker-%d", (int)getpid());
    mkdir(dir, 0700);
    service_pid = fork();
    if (service_pid == 0) {
        char uri[256];
        snprintf(uri, sizeof uri, "unix://%s", sock);
        execlp("podman", "podman", "system", "service", "--time=0", uri, (char *)NULL);
        _exit(127);
    }
    mc_err err = {0};
    engine = mc_docker_new(sock, &err);
    for (int i = 0; i < 300; i++) { /* generous: the first start of podman is slow under load */
        if (mc_docker_ping(engine, &err) == 0) return 0;
        sleep_ms(100);
    }
    fprintf(stderr, "podman system service did not answer on %s: %s\n", sock, err.msg);
    teardown(state);
    return -1;
}

static int teardown(void **state) {
    (void)state;
    cleanup_containers();
    mc_docker_free(engine);
    engine = NULL;
    if (service_pid > 0) {
        kill(service_pid, SIGTERM);
        waitpid(service_pid, NULL, 0);
    }
    unlink(sock);
    rmdir(dir);
    return 0;
}

static void make(const char *name, const char *const *cmd, char id[MC_DOCKER_ID_MAX]) {
    mc_docker_kv labels[] = {{"mcloud.test", label_kv}, {"mcloud.instance", name}};
    mc_docker_kv env[] = {{"MCLOUD_GREETING", "hello-env"}};
    mc_docker_spec spec = {.image = IMAGE, .cmd = cmd, .env = env, .nenv = 1, .labels = labels,
                           .nlabels = 2, .memory_bytes = 64 << 20, .nano_cpus = 500000000,
                           .pids_limit = 64};
    mc_err err = {0};
    char full[128];
    snprintf(full, sizeof full, "%s-%s", name, label_kv);
    int rc = mc_docker_create(engine, full, &spec, id, &err);
    if (rc < 0) fprintf(stderr, "create: %s\n", err.msg);
    assert_int_equal(rc, 0);
    rc = mc_docker_start(engine, id, &err);
    if (rc < 0) fprintf(stderr, "start: %s\n", err.msg);
    assert_int_equal(rc, 0);
}

static bool file_has(const char *path, const char *needle) {
    char buf[8192];
    FILE *f = fopen(path, "r");
    if (!f) return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

static void create_start_inspect_list_logs(void **state) {
    (void)state;
    const char *cmd[] = {"sh", "-c", "echo out-$MCLOUD_GREETING; echo err-line >&2; exec sleep 600", NULL};
    char id[MC_DOCKER_ID_MAX];
    make("alpha", cmd, id);
    mc_docker_container c;
    mc_err err = {0};
    assert_int_equal(mc_docker_inspect(engine, id, &c, &err), 0);
    assert_true(c.running);
    assert_true(c.pid > 0);
    assert_string_equal(json_string_value(json_object_get(c.labels, "mcloud.instance")), "alpha");
    /* limits reached the process: nproc 4096, host network namespace */
    char path[64], self_ns[64] = "", its_ns[64] = "";
    snprintf(path, sizeof path, "/proc/%d/limits", c.pid);
    assert_true(file_has(path, "Max processes             4096                 4096"));
    snprintf(path, sizeof path, "/proc/%d/ns/net", c.pid);
    assert_true(readlink(path, its_ns, sizeof its_ns - 1) > 0);
    assert_true(readlink("/proc/self/ns/net", self_ns, sizeof self_ns - 1) > 0);
    assert_string_equal(its_ns, self_ns);
    mc_docker_container_clear(&c);

    const char *labels[] = {label, "mcloud.instance=alpha"};
    mc_docker_container *list;
    size_t n;
    assert_int_equal(mc_docker_list(engine, labels, 2, &list, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, id);
    assert_true(list[0].running);
    mc_docker_containers_free(list, n);

    char logs[4096] = "";
    for (int i = 0; i < 100 && !(strstr(logs, "out-hello-env") && strstr(logs, "err-line")); i++) {
        assert_int_equal(mc_docker_logs(engine, id, 10, logs, sizeof logs, &err), 0);
        sleep_ms(100);
    }
    assert_non_null(strstr(logs, "out-hello-env\n"));
    assert_non_null(strstr(logs, "err-line\n"));

    /* the name is taken: a conflict, not a second container */
    char id2[MC_DOCKER_ID_MAX];
    mc_docker_spec spec = {.image = IMAGE};
    char full[128];
    snprintf(full, sizeof full, "alpha-%s", label_kv);
    assert_int_equal(mc_docker_create(engine, full, &spec, id2, &err), -1);
    assert_int_equal(err.kind, MC_ERR_CONFLICT);
}

typedef struct killer {
    char id[MC_DOCKER_ID_MAX];
} killer;

static void *kill_later(void *arg) {
    killer *k = arg;
    sleep_ms(1500);
    mc_err err = {0};
    mc_docker *other = mc_docker_new(sock, &err);
    mc_docker_kill(other, k->id, "KILL", &err);
    mc_docker_free(other);
    return NULL;
}

typedef struct seen {
    const char *id;
    int exit_code;
    bool died;
    int idle_calls;
} seen;

static int on_event(const mc_docker_event *ev, void *arg) {
    seen *s = arg;
    if (!ev) { /* idle: keep following */
        s->idle_calls++;
        return 0;
    }
    if (strcmp(ev->id, s->id) == 0 && strcmp(ev->action, "died") != 0 && strcmp(ev->action, "die") == 0) {
        s->died = true;
        s->exit_code = ev->exit_code;
        return 1;
    }
    return 0;
}

static void kill_shows_in_the_event_stream(void **state) {
    (void)state;
    const char *cmd[] = {"sleep", "600", NULL};
    killer k;
    make("bravo", cmd, k.id);
    pthread_t t;
    pthread_create(&t, NULL, kill_later, &k);
    seen s = {.id = k.id};
    const char *labels[] = {label};
    mc_err err = {0};
    assert_int_equal(mc_docker_events(engine, labels, 1, 60000, on_event, &s, &err), 0);
    pthread_join(t, NULL);
    assert_true(s.died);
    assert_int_equal(s.exit_code, 137);
    mc_docker_container c;
    assert_int_equal(mc_docker_inspect(engine, k.id, &c, &err), 0);
    assert_false(c.running);
    assert_int_equal(c.exit_code, 137);
    mc_docker_container_clear(&c);
}

static int stop_when_idle_twice(const mc_docker_event *ev, void *arg) {
    int *idle = arg;
    return !ev && ++*idle == 2;
}

/* An unlimited stream (timeout 0) ends when the idle call says so: how the
 * agent stops following events. */
static void an_idle_stream_ends_when_told(void **state) {
    (void)state;
    const char *labels[] = {label};
    mc_err err = {0};
    int idle = 0;
    assert_int_equal(mc_docker_events(engine, labels, 1, 0, stop_when_idle_twice, &idle, &err), 0);
    assert_int_equal(idle, 2);
}

static void stop_with_grace_then_remove(void **state) {
    (void)state;
    /* pid 1 ignores SIGTERM without a handler: stop must fall back to SIGKILL */
    const char *cmd[] = {"sleep", "600", NULL};
    char id[MC_DOCKER_ID_MAX];
    make("charlie", cmd, id);
    mc_err err = {0};
    assert_int_equal(mc_docker_stop(engine, id, 1, &err), 0);
    mc_docker_container c;
    assert_int_equal(mc_docker_inspect(engine, id, &c, &err), 0);
    assert_false(c.running);
    assert_string_equal(c.state, "exited");
    mc_docker_container_clear(&c);
    assert_int_equal(mc_docker_remove(engine, id, false, &err), 0);
    assert_int_equal(mc_docker_inspect(engine, id, &c, &err), -1);
    assert_int_equal(err.kind, MC_ERR_NOT_FOUND);
}

static void missing_image_is_not_found(void **state) {
    (void)state;
    mc_docker_kv labels[] = {{"mcloud.test", label_kv}};
    mc_docker_spec spec = {.image = "localhost/mcloud-no-such-image:latest", .labels = labels, .nlabels = 1};
    char id[MC_DOCKER_ID_MAX], name[128];
    snprintf(name, sizeof name, "delta-%s", label_kv);
    mc_err err = {0};
    assert_int_equal(mc_docker_create(engine, name, &spec, id, &err), -1);
    assert_int_equal(err.kind, MC_ERR_NOT_FOUND);
    assert_int_equal(mc_docker_start(engine, "no-such-container", &err), -1);
    assert_int_equal(err.kind, MC_ERR_NOT_FOUND);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(create_start_inspect_list_logs),
        cmocka_unit_test(kill_shows_in_the_event_stream),
        cmocka_unit_test(an_idle_stream_ends_when_told),
        cmocka_unit_test(stop_with_grace_then_remove),
        cmocka_unit_test(missing_image_is_not_found),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
