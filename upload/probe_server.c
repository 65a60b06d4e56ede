/* probe_server.c — `mcloud-probe --server`: the long-lived probe process
 * mcloud-upload starts once, so that the ~145 libraries libavformat pulls
 * in are loaded and relocated once instead of at every probe (an exec'd
 * helper cost ~90 ms of CPU per finished upload, most of it the dynamic
 * linker).
 *
 * The daemon holds one socket per probe slot (fds 3.. of this process).
 * On each it writes a request frame (u32 length, then the request text of
 * probe.h); for every request the server forks a supervisor, which forks
 * the probe child with the limits (address space, CPU, no core file, the
 * other descriptors closed, killed with its supervisor), writes the
 * request to the child's stdin, reads its result until the deadline or the
 * size bound, reaps it and writes the answer frame (probe_frame.h) on the
 * slot's socket. The child runs the one-shot probe (probe_main.c), so a
 * file that crashes or bombs ends that child only, never the server.
 *
 * The server ends when the daemon closes the sockets (its exit included);
 * supervisors and children die with it (PR_SET_PDEATHSIG). */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
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
#include "upload/probe.h"
#include "upload/probe_server.h"

#define FIRST_SLOT_FD 3
#define REQUEST_MAX (64 * 1024)

typedef struct limits {
    long memory_mb, cpu_s, timeout_s;
} limits;

/* Under AddressSanitizer a process reserves terabytes of shadow address
 * space, so no address-space limit can be set; av_max_alloc in the child
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

/* The probe child: limits, then the one-shot probe on stdin/stdout. */
static void run_child(const limits *l, int in, int out) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (dup2(in, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0) _exit(126);
    close_range(3, ~0U, 0);
    rlim_t cpu = (rlim_t)l->cpu_s, as_bytes = (rlim_t)l->memory_mb << 20;
    struct rlimit as = {as_bytes, as_bytes}, cpu_limit = {cpu, cpu + 1}, core = {0, 0};
    if ((LIMIT_ADDRESS_SPACE && setrlimit(RLIMIT_AS, &as) < 0) ||
        setrlimit(RLIMIT_CPU, &cpu_limit) < 0 || setrlimit(RLIMIT_CORE, &core) < 0)
        _exit(126);
    exit(mc_probe_once()); /* exit, not _exit: a sanitizer build checks the child for leaks */
}

typedef struct child_io {
    char buf[MC_PROBE_RESULT_MAX + 1];
    size_t len;
    bool timed_out, too_large;
} child_io;

/* Reads the child's stdout until EOF, the deadline, or the size bound. */
static void read_result(int fd, long deadline, child_io *io) {
    for (;;) {
        long left = deadline - mc_monotonic_ms();
        if (left <= 0) {
            io->timed_out = true;
            return;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)(left > INT_MAX ? INT_MAX : left));
        if (r <= 0) continue;
        ssize_t n = read(fd, io->buf + io->len, sizeof io->buf - io->len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        io->len += (size_t)n;
        if (io->len > MC_PROBE_RESULT_MAX) {
            io->too_large = true;
            return;
        }
    }
}

/* The supervisor of one probe: never returns. */
static void supervise(const limits *l, int sock, const char *request, size_t len) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    static child_io io;
    mc_probe_answer ans = {.status = 0};
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) _exit(1);
    long deadline = mc_monotonic_ms() + l->timeout_s * 1000L;
    pid_t pid = fork();
    if (pid == 0) run_child(l, in[0], out[1]);
    close(in[0]);
    close(out[1]);
    if (pid < 0) _exit(1);
    mc_write_all(in[1], request, len); /* a child that died early: its status says why */
    close(in[1]);
    read_result(out[0], deadline, &io);
    close(out[0]);
    if (io.timed_out || io.too_large) kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    ans.status = status;
    ans.timed_out = io.timed_out;
    ans.too_large = io.too_large;
    ans.len = io.too_large ? 0 : (uint32_t)io.len;
    if (!mc_write_all(sock, &ans, sizeof ans) || !mc_write_all(sock, io.buf, ans.len)) _exit(1);
    _exit(0);
}

/* One request from slot socket fd; false when the daemon is gone. */
static bool serve_one(const limits *l, int fd) {
    static char request[REQUEST_MAX];
    uint32_t len;
    if (!mc_read_all(fd, &len, sizeof len, -1) || len > sizeof request || !mc_read_all(fd, request, len, -1))
        return false;
    pid_t pid = fork();
    if (pid == 0) supervise(l, fd, request, len);
    if (pid < 0) {
        mc_probe_answer ans = {.status = 1 << 8}; /* exit status 1: the probe failed */
        return mc_write_all(fd, &ans, sizeof ans);
    }
    return true;
}

static bool parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

/* What every probe child would otherwise pay again: the dynamic linker's
 * lazy symbol lookups across libav*'s ~145 libraries (the server re-execs
 * itself with LD_BIND_NOW, so the children inherit resolved tables), and
 * libcurl's global (OpenSSL) initialisation. Measured: ~75 -> ~50 ms of
 * CPU per probe with the first alone (docs/BENCHMARKS.md). */
static void warm_up(char **argv) {
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (!getenv("LD_BIND_NOW") && n > 0) {
        self[n] = '\0';
        setenv("LD_BIND_NOW", "1", 1);
        execv(self, argv); /* its own path: the process keeps its name; on failure: lazy binding */
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int mc_probe_serve(int argc, char **argv) {
    limits l;
    long slots;
    if (argc != 6 || !parse_long(argv[2], 1, 1L << 20, &l.memory_mb) ||
        !parse_long(argv[3], 1, 86400, &l.cpu_s) || !parse_long(argv[4], 1, 86400, &l.timeout_s) ||
        !parse_long(argv[5], 1, 64, &slots)) {
        fprintf(stderr, "usage: mcloud-probe --server MEMORY_MB CPU_S TIMEOUT_S SLOTS "
                        "(slot sockets on fds 3..)\n");
        return 2;
    }
    warm_up(argv);
    signal(SIGPIPE, SIG_IGN);
    struct pollfd fds[64];
    for (long i = 0; i < slots; i++) fds[i] = (struct pollfd){.fd = FIRST_SLOT_FD + (int)i, .events = POLLIN};
    for (;;) {
        while (waitpid(-1, NULL, WNOHANG) > 0) {}
        int r = poll(fds, (nfds_t)slots, 1000);
        if (r < 0 && errno != EINTR) return 1;
        for (long i = 0; r > 0 && i < slots; i++)
            if (fds[i].revents && !serve_one(&l, fds[i].fd)) return 0; /* the daemon is gone */
    }
}
