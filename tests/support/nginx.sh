#!/usr/bin/env bash
# tests/support/nginx.sh — a private nginx (Debian's package) serving one
# directory on one loopback port: the reference peer that the stream tests
# compare mcloud-stream with (Range conformance table, benchmark).
#
# Everything lives under the caller's directory DIR: nginx.conf, the pid file,
# access.log / error.log and nginx's temp directories, so any number of
# instances run beside each other and beside a system nginx (which bootstrap
# keeps stopped). No root is needed: when run as root, the worker processes
# run as the calling user and group (not nginx's default "nobody", which could
# not read a private temp directory), so they read exactly what the caller
# can. nginx runs in the foreground (`daemon off;`) as a child of this script
# and its pid is printed and kept in DIR/nginx.pid; `stop` ends that pid only.
#
#   nginx.sh start ROOT PORT DIR   write DIR/nginx.conf, start nginx, wait until
#                                  it answers on 127.0.0.1:PORT, print its pid
#   nginx.sh stop DIR              SIGTERM (graceful) the pid in DIR/nginx.pid, wait
#   nginx.sh conf ROOT PORT DIR    only write DIR/nginx.conf (to run nginx yourself:
#                                  nginx -p DIR -c DIR/nginx.conf -e DIR/error.log -g 'daemon off;')
#   nginx.sh free-port             print a TCP port free on 127.0.0.1 now
#
# Settings (environment): NGINX_WORKERS (worker_processes, default 1),
# NGINX_EXTRA (directives added to the http block, e.g. 'open_file_cache max=64;').
# The configuration: sendfile on, tcp_nopush on, keep-alive without a request
# limit, ETag and Last-Modified on (nginx's defaults), no limit on the number of
# ranges (max_ranges unset), request headers up to 32 KiB (nginx's default 8 KiB
# would refuse a long Range list before parsing it; libmicrohttpd, under
# mcloud-stream, allows about 32 KiB), and the content types mcloud-stream sends:
# .mp4 video/mp4, .m4s video/iso.segment, .m3u8 application/vnd.apple.mpegurl,
# .jpg image/jpeg, .html text/html, anything else application/octet-stream.
# access.log lines: status, bytes sent, the Range header, the request line.
set -euo pipefail

NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}

die() { echo "nginx.sh: $*" >&2; exit 1; }

usage() { sed -n '15,21p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

write_conf() { # write_conf ROOT PORT DIR
    local root=$1 port=$2 dir=$3 user_line=''
    [[ -d $root ]] || die "no directory $root"
    [[ $port =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) || die "bad port '$port'"
    root=$(cd "$root" && pwd)
    mkdir -p "$dir/tmp"
    dir=$(cd "$dir" && pwd)
    [[ $(id -u) -ne 0 ]] || user_line="user $(id -un) $(id -gn);"
    cat >"$dir/nginx.conf" <<EOF
# written by tests/support/nginx.sh: a private nginx for tests and benchmarks
$user_line
worker_processes ${NGINX_WORKERS:-1};
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    types {
        video/mp4 mp4;
        video/iso.segment m4s;
        application/vnd.apple.mpegurl m3u8;
        image/jpeg jpg;
        text/html html;
    }
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 65s;
    server_tokens off;
    large_client_header_buffers 4 32k;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    log_format ranges '\$status \$body_bytes_sent "\$http_range" "\$request"';
    access_log $dir/access.log ranges;
    ${NGINX_EXTRA:-}
    server {
        listen 127.0.0.1:$port;
        root $root;
    }
}
EOF
    echo "$dir"
}

answers() { # answers PORT: any HTTP answer on 127.0.0.1:PORT
    curl -s -o /dev/null -m 2 "http://127.0.0.1:$1/" 2>/dev/null
}

cmd_start() {
    local root=$1 port=$2 dir pid
    dir=$(write_conf "$root" "$port" "$3")
    "$NGINX_BIN" -t -q -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" 2>"$dir/configtest.log" ||
        die "configuration refused: $(cat "$dir/configtest.log" "$dir/error.log" 2>/dev/null)"
    "$NGINX_BIN" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;' \
        </dev/null >"$dir/stdout.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            die "nginx exited at start: $(cat "$dir/stdout.log" "$dir/error.log" 2>/dev/null)"
        fi
        if answers "$port"; then
            echo "$pid"
            return 0
        fi
        sleep 0.1
    done
    kill -TERM "$pid" 2>/dev/null || true
    die "nginx (pid $pid) did not answer on 127.0.0.1:$port within 10 s: $(cat "$dir/error.log" 2>/dev/null)"
}

cmd_stop() {
    local dir=$1 pid
    [[ -f $dir/nginx.pid ]] || return 0
    pid=$(cat "$dir/nginx.pid")
    [[ $pid =~ ^[0-9]+$ ]] || die "bad pid file $dir/nginx.pid"
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

cmd_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

[[ $# -ge 1 ]] || usage
case $1 in
    start) [[ $# -eq 4 ]] || usage; cmd_start "$2" "$3" "$4" ;;
    stop) [[ $# -eq 2 ]] || usage; cmd_stop "$2" ;;
    conf) [[ $# -eq 4 ]] || usage; write_conf "$2" "$3" "$4" >/dev/null ;;
    free-port) cmd_free_port ;;
    *) usage ;;
esac
