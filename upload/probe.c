/* probe.c — what a finished upload contains, asked of the probe server
 * (`mcloud-probe --server`, probe_server.c) so that parsing untrusted media
 * can neither crash nor bloat the daemon, and libav* stay out of its
 * address space. The server is started on the first probe (exec of the
 * helper next to this executable) and loads libav once; for each probe it
 * forks a child under the limits (address space upload.probe_memory_mb,
 * CPU upload.probe_cpu_s, no core file, killed at upload.probe_timeout_s)
 * and answers with the child's wait status and result (probe_server.h).
 * Exec'ing a helper per probe cost ~90 ms of CPU (loading ~145 libraries).
 *
 * A probe child that dies by a signal, exceeds a limit or writes no valid
 * result is a result too (the video fails with that reason: the same file
 * would do the same again); only an S3 failure the child reports (exit
 * MC_PROBE_EXIT_S3) is an error the completion retries. A server that
 * dies or stops answering is killed, restarted and the probe retried once;
 * a second failure is an error the completion retries.
 *
 * At most PROBE_SLOTS probes run at once (one socket each to the server):
 * a burst of uploads finishing together would otherwise start as many
 * children (each tens of MiB). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fdio.h"
#include "common/http.h"
#include "common/log.h"
#include "upload/probe_server.h"
#include "upload/upload.h"

#define PROBE_SLOTS 4
#define HELPER_NAME "mcloud-probe"
#define SERVER_MARGIN_S 10 /* past the probe deadline the server enforces itself */

static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slot_freed = PTHREAD_COND_INITIALIZER;
static bool slot_used[PROBE_SLOTS];

/* A free slot's index: its socket to the server is this thread's until given back. */
static int take_slot(void) {
    pthread_mutex_lock(&slots_lock);
    for (;;) {
        for (int i = 0; i < PROBE_SLOTS; i++)
            if (!slot_used[i]) {
                slot_used[i] = true;
                pthread_mutex_unlock(&slots_lock);
                return i;
            }
        pthread_cond_wait(&slot_freed, &slots_lock);
    }
}

static void give_slot(int slot) {
    pthread_mutex_lock(&slots_lock);
    slot_used[slot] = false;
    pthread_cond_signal(&slot_freed);
    pthread_mutex_unlock(&slots_lock);
}

int mc_upload_probe_init(mc_upload_server *srv, mc_err *err) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0) return mc_err_set(err, MC_ERR_INTERNAL, "readlink /proc/self/exe: %s", strerror(errno));
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    if ((size_t)snprintf(srv->probe_bin, sizeof srv->probe_bin, "%s/%s", slash ? exe : ".",
                         HELPER_NAME) >= sizeof srv->probe_bin)
        return mc_err_set(err, MC_ERR_INTERNAL, "path of %s too long", HELPER_NAME);
    if (access(srv->probe_bin, X_OK) != 0)
        return mc_err_set(err, MC_ERR_INTERNAL,
                          "the probe helper %s is missing or not executable (%s): build the "
                          "target %s next to mcloud-upload", srv->probe_bin, strerror(errno),
                          HELPER_NAME);
    return 0;
}

/* ---- the probe server ----------------------------------------------------- */

static pthread_mutex_t server_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t server_pid;            /* 0: not running */
static int server_socks[PROBE_SLOTS];
static unsigned server_generation;  /* bumped at every restart */

/* Between fork and exec: async-signal-safe calls only. The slot sockets
 * go to fds 3.. (moved above the range first, so no dup2 clobbers one). */
typedef struct server_args {
    char mem[24], cpu[24], timeout[24], slots[24];
} server_args;

static void exec_server(const mc_upload_server *srv, const server_args *a,
                        int child_socks[PROBE_SLOTS]) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    int high[PROBE_SLOTS];
    for (int i = 0; i < PROBE_SLOTS; i++)
        if ((high[i] = fcntl(child_socks[i], F_DUPFD, 3 + PROBE_SLOTS)) < 0) _exit(126);
    for (int i = 0; i < PROBE_SLOTS; i++)
        if (dup2(high[i], 3 + i) < 0) _exit(126);
    close_range(3 + PROBE_SLOTS, ~0U, 0);
    struct rlimit core = {0, 0};
    setrlimit(RLIMIT_CORE, &core);
    char *const argv[] = {(char *)HELPER_NAME, "--server", (char *)a->mem, (char *)a->cpu,
                          (char *)a->timeout, (char *)a->slots, NULL};
    execv(srv->probe_bin, argv);
    _exit(127);
}

static void close_socks(int *socks) {
    for (int i = 0; i < PROBE_SLOTS; i++)
        if (socks[i] >= 0) close(socks[i]), socks[i] = -1;
}

/* With server_lock held. The server is not tied to the starting thread's
 * life (PR_SET_PDEATHSIG would kill it when that request thread ends): it
 * ends when its sockets close, at our exit too. */
static int start_server(mc_upload_server *srv, mc_err *err) {
    int ours[PROBE_SLOTS], theirs[PROBE_SLOTS];
    for (int i = 0; i < PROBE_SLOTS; i++) ours[i] = theirs[i] = -1;
    for (int i = 0; i < PROBE_SLOTS; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
            close_socks(ours);
            close_socks(theirs);
            return mc_err_set(err, MC_ERR_INTERNAL, "socketpair: %s", strerror(errno));
        }
        ours[i] = sv[0];
        theirs[i] = sv[1];
    }
    server_args a; /* formatted before fork: only async-signal-safe calls after it */
    snprintf(a.mem, sizeof a.mem, "%d", srv->set.probe_memory_mb);
    snprintf(a.cpu, sizeof a.cpu, "%d", srv->set.probe_cpu_s);
    snprintf(a.timeout, sizeof a.timeout, "%d", srv->set.probe_timeout_s);
    snprintf(a.slots, sizeof a.slots, "%d", PROBE_SLOTS);
    pid_t pid = fork();
    if (pid == 0) exec_server(srv, &a, theirs);
    close_socks(theirs);
    if (pid < 0) {
        close_socks(ours);
        return mc_err_set(err, MC_ERR_INTERNAL, "fork: %s", strerror(errno));
    }
    server_pid = pid;
    memcpy(server_socks, ours, sizeof ours);
    mc_log_kv(MC_LOG_INFO, "probe server started", "binary", srv->probe_bin, NULL);
    return 0;
}

/* With server_lock held: kills and reaps it; the next probe starts another. */
static void stop_server(bool kill_it) {
    if (server_pid <= 0) return;
    close_socks(server_socks);
    if (kill_it) kill(server_pid, SIGKILL);
    while (waitpid(server_pid, NULL, 0) < 0 && errno == EINTR) {}
    server_pid = 0;
    server_generation++;
}

void mc_upload_probe_stop(void) {
    pthread_mutex_lock(&server_lock);
    stop_server(false); /* it exits when its sockets close */
    pthread_mutex_unlock(&server_lock);
}

typedef struct helper_io {
    int status;
    char *buf; /* sized to the answer: a few KiB, not the MC_PROBE_RESULT_MAX bound */
    size_t len;
    bool timed_out, too_large;
    bool no_memory; /* the answer could not be stored: not the server's fault */
} helper_io;

/* One request and its answer on the slot's socket; false when the server
 * died or did not answer within its own deadline plus a margin. */
static bool exchange(const mc_upload_server *srv, int sock, const char *request, helper_io *io) {
    size_t len = strlen(request);
    uint32_t len32 = (uint32_t)len;
    mc_probe_answer ans;
    int64_t deadline = mc_monotonic_ms() + (srv->set.probe_timeout_s + SERVER_MARGIN_S) * 1000L;
    if (!mc_write_all(sock, &len32, sizeof len32) || !mc_write_all(sock, request, len) ||
        !mc_read_all(sock, &ans, sizeof ans, deadline) || ans.len > MC_PROBE_RESULT_MAX)
        return false;
    char *buf = realloc(io->buf, (size_t)ans.len + 1);
    if (!buf) {
        io->no_memory = true;
        return false;
    }
    io->buf = buf;
    if (!mc_read_all(sock, io->buf, ans.len, deadline)) return false;
    io->buf[ans.len] = '\0';
    io->status = ans.status;
    io->len = ans.len;
    io->timed_out = ans.timed_out;
    io->too_large = ans.too_large;
    return true;
}

/* The helper's fate as a probe result or an error. */
static int interpret(const mc_upload_server *srv, const helper_io *io, mc_upload_probe *p,
                     mc_err *err) {
    int status = io->status;
    memset(p, 0, sizeof *p);
    p->duration_ms = -1;
    const char *why = NULL;
    char buf[160];
    if (io->timed_out) {
        snprintf(buf, sizeof buf, "the probe took longer than %d s", srv->set.probe_timeout_s);
        why = buf;
    } else if (io->too_large) {
        why = "the probe's result is too large";
    } else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGXCPU) {
        snprintf(buf, sizeof buf, "the probe used more than its %d s of CPU", srv->set.probe_cpu_s);
        why = buf;
    } else if (WIFSIGNALED(status)) {
        snprintf(buf, sizeof buf, "the probe process died (signal %d: %s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
        why = buf;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == MC_PROBE_EXIT_S3) {
        mc_upload_probe parsed;
        if (mc_upload_probe_parse(io->buf, io->len, &parsed, err) == 0) mc_upload_probe_free(&parsed);
        if (err->kind == MC_ERR_NONE || err->kind == MC_ERR_INVALID)
            mc_err_set(err, MC_ERR_UNAVAILABLE, "the probe helper could not read S3");
        return -1;
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(buf, sizeof buf, "the probe process failed (exit status %d)",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        if (WIFEXITED(status) && (WEXITSTATUS(status) == 126 || WEXITSTATUS(status) == 127))
            return mc_err_set(err, MC_ERR_INTERNAL, "%s: cannot start %s", buf, srv->probe_bin);
        why = buf;
    } else {
        mc_err perr = {0};
        if (mc_upload_probe_parse(io->buf, io->len, p, &perr) == 0) return 0;
        snprintf(p->failure_reason, sizeof p->failure_reason,
                 "not a playable media file: the probe's result is invalid: %.150s", perr.msg);
        p->media = false;
        return 0;
    }
    memset(p, 0, sizeof *p);
    p->duration_ms = -1;
    snprintf(p->failure_reason, sizeof p->failure_reason, "not a playable media file: %s", why);
    return 0;
}

/* The probe on the slot's socket; a server that died or hangs is
 * restarted and the probe retried once. */
static int run_probe(mc_upload_server *srv, int slot, const char *request, mc_upload_probe *p,
                     mc_err *err) {
    helper_io io = {0};
    int rc = -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        /* A copy of the slot's socket: a restart by another thread closes
         * the original, and its number must not be reused under us. */
        pthread_mutex_lock(&server_lock);
        int sock = -1;
        if (server_pid > 0 || start_server(srv, err) == 0) {
            sock = fcntl(server_socks[slot], F_DUPFD_CLOEXEC, 0);
            if (sock < 0) mc_err_set(err, MC_ERR_INTERNAL, "dup: %s", strerror(errno));
        }
        unsigned generation = server_generation;
        pthread_mutex_unlock(&server_lock);
        if (sock < 0) break;
        bool answered = exchange(srv, sock, request, &io);
        close(sock);
        if (io.no_memory) {
            mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
            break;
        }
        if (answered) {
            rc = interpret(srv, &io, p, err);
            break;
        }
        pthread_mutex_lock(&server_lock);
        if (generation == server_generation) {
            mc_log_kv(MC_LOG_WARN, "the probe server died or hung; restarting it", NULL);
            stop_server(true);
        }
        pthread_mutex_unlock(&server_lock);
        mc_err_set(err, MC_ERR_UNAVAILABLE, "the probe server failed twice (see the log)");
    }
    free(io.buf);
    return rc;
}

int mc_upload_probe_object(mc_upload_server *srv, const char *key, uint64_t size,
                           mc_upload_probe *p, mc_err *err) {
    memset(p, 0, sizeof *p);
    char *request = mc_upload_probe_request(&srv->s3cfg, key, size, srv->set.probe_memory_mb / 4);
    if (!request) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    double asked = mc_monotonic_seconds();
    int slot = take_slot();
    double started = mc_monotonic_seconds();
    int rc = run_probe(srv, slot, request, p, err);
    give_slot(slot);
    if (mc_log_enabled(MC_LOG_DEBUG)) {
        char wait_ms[24], run_ms[24];
        snprintf(wait_ms, sizeof wait_ms, "%.1f", (started - asked) * 1000);
        snprintf(run_ms, sizeof run_ms, "%.1f", (mc_monotonic_seconds() - started) * 1000);
        mc_log_kv(MC_LOG_DEBUG, "probe", "key", key, "slot_wait_ms", wait_ms, "run_ms", run_ms, NULL);
    }
    free(request);
    if (rc < 0) return mc_err_wrap(err, "probing %s", key);
    if (!p->media) mc_log_kv(MC_LOG_INFO, "probe: not media", "key", key, "reason", p->failure_reason, NULL);
    return 0;
}
