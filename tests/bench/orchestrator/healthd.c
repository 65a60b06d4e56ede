/* healthd.c — the orchestrator benchmark's minimal container: answers every
 * HTTP request with 200 "ok" on the port in $PORT, keeping connections open
 * as the platform's own daemons (libmicrohttpd) do, and exits 0 on SIGTERM.
 * One request per read is assumed: the agent's probes are small GETs.
 * Built static into a FROM-scratch image (localhost/mcloud-health:bench) so
 * 50 containers cost the engine and the control plane, not the backing
 * servers a real service would talk to. Not part of the platform. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;

static void on_term(int sig) {
    (void)sig;
    stopping = 1;
}

#define MAX_CLIENTS 16

/* Reads a request and answers it; 0 when the client is gone. */
static int answer(int fd) {
    static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n";
    char buf[2048];
    if (read(fd, buf, sizeof buf) <= 0) return 0;
    return write(fd, reply, sizeof reply - 1) == (ssize_t)(sizeof reply - 1);
}

static void serve(int s) {
    struct pollfd fds[1 + MAX_CLIENTS] = {{.fd = s, .events = POLLIN}};
    int n = 1;
    while (!stopping) {
        if (poll(fds, (nfds_t)n, -1) < 0) continue; /* EINTR: look at stopping */
        for (int i = n - 1; i >= 1; i--)
            if (fds[i].revents && !answer(fds[i].fd)) {
                close(fds[i].fd);
                fds[i] = fds[--n];
            }
        if (fds[0].revents & POLLIN) {
            int c = accept(s, NULL, NULL);
            if (c >= 0 && n < 1 + MAX_CLIENTS) fds[n++] = (struct pollfd){.fd = c, .events = POLLIN};
            else if (c >= 0) close(c);
        }
    }
}

int main(void) {
    const char *p = getenv("PORT");
    int port = p ? atoi(p) : 0;
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "healthd: PORT must be a port number, got %s\n", p ? p : "(unset)");
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_term}; /* no SA_RESTART: accept() returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 64) < 0) {
        fprintf(stderr, "healthd: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
        return 1;
    }
    serve(s);
    close(s);
    return 0;
}
