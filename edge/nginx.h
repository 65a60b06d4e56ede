/* nginx.h — running nginx and openssl for mcloud-edge (see nginx.c). */
#ifndef MCLOUD_EDGE_NGINX_H
#define MCLOUD_EDGE_NGINX_H

#include <sys/types.h>

#include "common/error.h"
#include "edge/edge.h"

/* `nginx -t` of conf with prefix dir; the failure names nginx's message. */
int mc_nginx_test(const char *nginx, const char *dir, const char *conf, mc_err *err);
/* The running master's pid from <dir>/nginx.pid (0: not running). */
pid_t mc_nginx_pid(const char *dir);
/* Starts nginx (it daemonizes) and waits for its pid file. */
int mc_nginx_start(const char *nginx, const char *dir, const char *conf, mc_err *err);
/* SIGHUP to the master: it rereads the configuration, old workers finish
 * their requests. */
int mc_nginx_reload(const char *dir, mc_err *err);
/* SIGQUIT (graceful) for up to grace_ms, then SIGTERM, then SIGKILL. */
void mc_nginx_stop(const char *dir, long grace_ms);

/* <tls_dir>/ca.pem, cert.pem, key.pem: a local CA and a server certificate
 * for names (an openssl subjectAltName list, "DNS:localhost,IP:127.0.0.1"),
 * made once and kept. */
int mc_edge_self_signed(const char *openssl, const char *tls_dir, const char *names, mc_err *err);

#endif
