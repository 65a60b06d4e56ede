/* probe.c — what a finished upload contains, asked of a short-lived helper
 * process (mcloud-probe, probe_main.c) so that parsing untrusted media can
 * neither crash nor bloat the daemon, and libav* stay out of its address
 * space. One run: fork, set the child's limits (address space
 * upload.probe_memory_mb, CPU upload.probe_cpu_s, no core file, the other
 * descriptors closed, killed with the thread that started it), exec the
 * helper next to this executable, write the request to its stdin, read
 * the result from its stdout until upload.probe_timeout_s, reap it.
 *
 * A helper that dies by a signal, exceeds a limit or writes no valid
 * result is a result too (the video fails with that reason: the same file
 * would do the same again); only an S3 failure the helper reports (exit
 * MC_PROBE_EXIT_S3) is an error the completion retries.
 *
 * At most PROBE_SLOTS probes run at once: a burst of uploads finishing
 * together would otherwise start as many helpers (each tens of MiB). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "upload/upload.h"

#define PROBE_SLOTS 4
#define HELPER_NAME "mcloud-probe"

static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slot_freed = PTHREAD_COND_INITIALIZER;
static int slots_used;

static void take_slot(void) {
    pthread_mutex_lock(&slots_lock);
    while (slots_used == PROBE_SLOTS) pthread_cond_wait(&slot_freed, &slots_lock);
    slots_used++;
    pthread_mutex_unlock(&slots_lock);
}

static void give_slot(void) {
    pthread_mutex_lock(&slots_lock);
    slots_used--;
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

/* Under AddressSanitizer a process reserves terabytes of shadow address
 * space, so no address-space limit can be set; av_max_alloc in the helper
 * still bounds every single allocation. */
#if defined(__SANITIZE_ADDRESS__)
#define LIMIT_ADDRESS_SPACE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LIMIT_ADDRESS_SPACE 0
#endif
#endif
#ifndef LIMIT_ADDRESS_SPACE
#define LIMIT_ADDRESS_SPACE 1
#endif

/* Between fork and exec: async-signal-safe calls only. */
static void run_helper(const mc_upload_server *srv, int in, int out) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (dup2(in, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0) _exit(126);
    close_range(3, ~0U, 0);
    rlim_t cpu = (rlim_t)srv->set.probe_cpu_s;
    struct rlimit as = {(rlim_t)srv->set.probe_memory_mb << 20, (rlim_t)srv->set.probe_memory_mb << 20},
                  cpu_limit = {cpu, cpu + 1}, core = {0, 0};
    if ((LIMIT_ADDRESS_SPACE && setrlimit(RLIMIT_AS, &as) < 0) ||
        setrlimit(RLIMIT_CPU, &cpu_limit) < 0 || setrlimit(RLIMIT_CORE, &core) < 0)
        _exit(126);
    char *const argv[] = {(char *)HELPER_NAME, NULL};
    execv(srv->probe_bin, argv);
    _exit(127);
}

static long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000L + t.tv_nsec / 1000000;
}

typedef struct helper_io {
    char *buf;
    size_t len;
    bool timed_out, too_large;
} helper_io;

/* Reads the helper's stdout until EOF, the deadline, or the size bound. */
static void read_result(int fd, long deadline, helper_io *io) {
    io->buf = malloc(MC_PROBE_RESULT_MAX + 1);
    if (!io->buf) return;
    for (;;) {
        long left = deadline - now_ms();
        if (left <= 0) {
            io->timed_out = true;
            return;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)(left > INT_MAX ? INT_MAX : left));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;
        ssize_t n = read(fd, io->buf + io->len, MC_PROBE_RESULT_MAX + 1 - io->len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        io->len += (size_t)n;
        if (io->len > MC_PROBE_RESULT_MAX) {
            io->too_large = true;
            return;
        }
    }
}

static void write_all(int fd, const char *text) {
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return; /* the helper died: its status says why */
        off += (size_t)n;
    }
}

/* The helper's fate as a probe result or an error. */
static int interpret(const mc_upload_server *srv, int status, helper_io *io, mc_upload_probe *p,
                     mc_err *err) {
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

static int run_probe(mc_upload_server *srv, const char *request, mc_upload_probe *p, mc_err *err) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) < 0) return mc_err_set(err, MC_ERR_INTERNAL, "pipe: %s", strerror(errno));
    if (pipe2(out, O_CLOEXEC) < 0) {
        close(in[0]);
        close(in[1]);
        return mc_err_set(err, MC_ERR_INTERNAL, "pipe: %s", strerror(errno));
    }
    long deadline = now_ms() + srv->set.probe_timeout_s * 1000L;
    pid_t pid = fork();
    if (pid == 0) run_helper(srv, in[0], out[1]);
    close(in[0]);
    close(out[1]);
    if (pid < 0) {
        close(in[1]);
        close(out[0]);
        return mc_err_set(err, MC_ERR_INTERNAL, "fork: %s", strerror(errno));
    }
    write_all(in[1], request);
    close(in[1]);
    helper_io io = {0};
    read_result(out[0], deadline, &io);
    close(out[0]);
    if (io.timed_out || io.too_large || !io.buf) kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    int rc = io.buf ? interpret(srv, status, &io, p, err)
                    : mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    free(io.buf);
    return rc;
}

int mc_upload_probe_object(mc_upload_server *srv, const char *key, uint64_t size,
                           mc_upload_probe *p, mc_err *err) {
    memset(p, 0, sizeof *p);
    char *request = mc_upload_probe_request(&srv->s3cfg, key, size, srv->set.probe_memory_mb / 4);
    if (!request) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    take_slot();
    int rc = run_probe(srv, request, p, err);
    give_slot();
    free(request);
    if (rc < 0) return mc_err_wrap(err, "probing %s", key);
    if (!p->media) mc_log_kv(MC_LOG_INFO, "probe: not media", "key", key, "reason", p->failure_reason, NULL);
    return 0;
}
