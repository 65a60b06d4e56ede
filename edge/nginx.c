/* nginx.c — the edge's hands on nginx and openssl: running a tool and
 * waiting for it, testing a configuration (`nginx -t`) before it is used,
 * starting nginx, reloading it (SIGHUP to the master), stopping it, and
 * the self-signed certificate for local use (openssl CLI: a local CA and a
 * server certificate it signs, so clients trust ca.pem with --cacert).
 *
 * nginx runs as a daemon of its own (its master writes <dir>/nginx.pid):
 * it keeps serving when mcloud-edge crashes, and a restarted mcloud-edge
 * adopts it through the pid file. */
#include "edge/nginx.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/dirs.h"

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Runs argv with stdout+stderr into log (truncated), waits; the exit status
 * or -1. The child gets an empty signal mask (the daemon blocks SIGTERM,
 * SIGHUP... in every thread, and nginx's master must receive them). */
static int run_tool(char *const argv[], const char *log) {
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int null = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (null >= 0) dup2(null, 0);
        execvp(argv[0], argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The last line of a tool's log, for an error message. */
static void last_line(const char *log, char *out, size_t cap) {
    out[0] = '\0';
    FILE *f = fopen(log, "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f))
        if (line[0] != '\n') snprintf(out, cap, "%s", line);
    fclose(f);
    size_t n = strlen(out);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r')) out[--n] = '\0';
}

static int tool_failed(const char *what, int rc, const char *log, mc_err *err) {
    char line[512];
    last_line(log, line, sizeof line);
    if (rc == 127) return mc_err_set(err, MC_ERR_UNAVAILABLE, "%s: not installed (apt-get install nginx openssl)", what);
    return mc_err_set(err, MC_ERR_INTERNAL, "%s failed (exit %d): %s", what, rc, line[0] ? line : "no output");
}

int mc_nginx_test(const char *nginx, const char *dir, const char *conf, mc_err *err) {
    char log[MC_EDGE_PATH_MAX + 32], errlog[MC_EDGE_PATH_MAX + 32];
    snprintf(log, sizeof log, "%s/configtest.log", dir);
    snprintf(errlog, sizeof errlog, "%s/error.log", dir);
    char *argv[] = {(char *)nginx, "-t", "-q", "-p", (char *)dir, "-c", (char *)conf, "-e", errlog, NULL};
    int rc = run_tool(argv, log);
    return rc == 0 ? 0 : tool_failed("nginx -t", rc, log, err);
}

pid_t mc_nginx_pid(const char *dir) {
    char path[MC_EDGE_PATH_MAX + 32], buf[32] = "";
    snprintf(path, sizeof path, "%s/nginx.pid", dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    long pid = fgets(buf, sizeof buf, f) ? strtol(buf, NULL, 10) : 0;
    fclose(f);
    if (pid <= 1 || kill((pid_t)pid, 0) < 0) return 0;
    /* a recycled pid after a reboot is not ours */
    char comm_path[64], comm[32] = "";
    snprintf(comm_path, sizeof comm_path, "/proc/%ld/comm", pid);
    f = fopen(comm_path, "r");
    if (!f) return 0;
    if (!fgets(comm, sizeof comm, f)) comm[0] = '\0';
    fclose(f);
    return strncmp(comm, "nginx", 5) == 0 ? (pid_t)pid : 0;
}

int mc_nginx_start(const char *nginx, const char *dir, const char *conf, mc_err *err) {
    char log[MC_EDGE_PATH_MAX + 32], errlog[MC_EDGE_PATH_MAX + 32];
    snprintf(log, sizeof log, "%s/start.log", dir);
    snprintf(errlog, sizeof errlog, "%s/error.log", dir);
    char *argv[] = {(char *)nginx, "-p", (char *)dir, "-c", (char *)conf, "-e", errlog, NULL};
    int rc = run_tool(argv, log);
    if (rc != 0) return tool_failed("nginx start", rc, log, err);
    for (int i = 0; i < 100; i++) { /* the master writes its pid after forking */
        if (mc_nginx_pid(dir) > 0) return 0;
        sleep_ms(50);
    }
    return mc_err_set(err, MC_ERR_INTERNAL, "nginx started but wrote no pid to %s/nginx.pid (see %s)", dir, errlog);
}

int mc_nginx_reload(const char *dir, mc_err *err) {
    pid_t pid = mc_nginx_pid(dir);
    if (pid <= 0) return mc_err_set(err, MC_ERR_UNAVAILABLE, "nginx is not running");
    if (kill(pid, SIGHUP) < 0) return mc_err_set(err, MC_ERR_INTERNAL, "SIGHUP to nginx %d: %s", (int)pid, strerror(errno));
    return 0;
}

void mc_nginx_stop(const char *dir, long grace_ms) {
    pid_t pid = mc_nginx_pid(dir);
    if (pid <= 0) return;
    kill(pid, SIGQUIT); /* graceful: requests in flight finish */
    for (long t = 0; t < grace_ms && kill(pid, 0) == 0; t += 50) sleep_ms(50);
    if (kill(pid, 0) == 0) kill(pid, SIGTERM);
    for (int i = 0; i < 100 && kill(pid, 0) == 0; i++) sleep_ms(50);
    if (kill(pid, 0) == 0) kill(pid, SIGKILL);
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && st.st_size > 0;
}

int mc_edge_self_signed(const char *openssl, const char *tls_dir, const char *names, mc_err *err) {
    char ca[MC_EDGE_PATH_MAX + 32], ca_key[MC_EDGE_PATH_MAX + 32], cert[MC_EDGE_PATH_MAX + 32],
        key[MC_EDGE_PATH_MAX + 32], csr[MC_EDGE_PATH_MAX + 32], ext[MC_EDGE_PATH_MAX + 32],
        log[MC_EDGE_PATH_MAX + 32], tmp_cert[MC_EDGE_PATH_MAX + 32], tmp_key[MC_EDGE_PATH_MAX + 32];
    snprintf(ca, sizeof ca, "%s/ca.pem", tls_dir);
    snprintf(ca_key, sizeof ca_key, "%s/ca.key", tls_dir);
    snprintf(cert, sizeof cert, "%s/cert.pem", tls_dir);
    snprintf(key, sizeof key, "%s/key.pem", tls_dir);
    if (exists(ca) && exists(cert) && exists(key)) return 0; /* made before: clients keep trusting it */
    char dir_slash[MC_EDGE_PATH_MAX + 2];
    snprintf(dir_slash, sizeof dir_slash, "%s/", tls_dir);
    if (mc_mkdir_parents(dir_slash, err) < 0) return mc_err_wrap(err, "edge TLS directory %s", tls_dir);
    snprintf(csr, sizeof csr, "%s/cert.csr", tls_dir);
    snprintf(ext, sizeof ext, "%s/cert.ext", tls_dir);
    snprintf(log, sizeof log, "%s/openssl.log", tls_dir);
    snprintf(tmp_cert, sizeof tmp_cert, "%s/cert.pem.tmp", tls_dir);
    snprintf(tmp_key, sizeof tmp_key, "%s/key.pem.tmp", tls_dir);
    FILE *f = fopen(ext, "w");
    if (!f) return mc_err_set(err, MC_ERR_INTERNAL, "cannot write %s: %s", ext, strerror(errno));
    fprintf(f, "basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature, keyEncipherment\n"
               "extendedKeyUsage = serverAuth\nsubjectAltName = %s\n", names);
    fclose(f);
    char *make_ca[] = {(char *)openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                       "-nodes", "-keyout", ca_key, "-out", ca, "-days", "3650", "-subj", "/CN=mcloud edge local CA",
                       "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                       NULL};
    char *make_csr[] = {(char *)openssl, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", tmp_key, "-out", csr, "-subj", "/CN=mcloud edge", NULL};
    char *sign[] = {(char *)openssl, "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-set_serial",
                    "0x4d434c4f5544", "-days", "825", "-extfile", ext, "-out", tmp_cert, NULL};
    int rc;
    if ((rc = run_tool(make_ca, log)) != 0) return tool_failed("openssl req (local CA)", rc, log, err);
    if ((rc = run_tool(make_csr, log)) != 0) return tool_failed("openssl req (server key)", rc, log, err);
    if ((rc = run_tool(sign, log)) != 0) return tool_failed("openssl x509 (signing)", rc, log, err);
    chmod(tmp_key, 0600);
    chmod(ca_key, 0600);
    if (rename(tmp_key, key) < 0 || rename(tmp_cert, cert) < 0)
        return mc_err_set(err, MC_ERR_INTERNAL, "cannot move the certificate into %s: %s", tls_dir, strerror(errno));
    unlink(csr);
    return 0;
}
