#!/usr/bin/env bash
# scripts/stack.sh — runs the local stack of REAL backing services that
# mcloud's integration and end-to-end tests use: a MariaDB master and
# two semi-sync GTID replicas, Redis, Kafka (KRaft, single node) and MinIO, all on
# 127.0.0.1 with non-default ports and all state under $MCLOUD_HOME/stack.
# Binaries come from scripts/bootstrap.sh.
#
# usage: scripts/stack.sh up [--backing]        start whatever is not running, wait until it answers
#                                               (--backing: the backing servers only, not the mcloud daemons)
#        scripts/stack.sh down [--purge]        stop what this script started (--purge: wipe data)
#        scripts/stack.sh reset                 same as down --purge
#        scripts/stack.sh status [component]    up/down per component (exit 3 if any is down)
#        scripts/stack.sh start|stop|restart <component>...
#        scripts/stack.sh env                   export lines for the clients (only those on stdout)
#        scripts/stack.sh promote redis|redis-replica   make it the Redis master (Sentinel failover)
#        scripts/stack.sh logs <component>      path of the component's log file
#        scripts/stack.sh peers                 each MariaDB server's peer address (its replicas'
#                                               MASTER_HOST) and each monitor's source address
#        scripts/stack.sh edge up|down|status|env   opt-in: mcloud-edge + nginx in front of the
#                                               stack's upload, stream and api (`edge env`: their URLs
#                                               through the edge, to eval after `env`)
#        scripts/stack.sh platform up|down|status|env|spec   opt-in (`make run`): the podman service,
#                                               one mcloud-agent, mcloud-orchestrator and the edge; the
#                                               services run as containers (`mcloud deploy` of `platform
#                                               spec`); `down` also removes this node's containers
# components: sentinel1 sentinel2 sentinel3 redis redis-replica mysql-master mysql-replica mysql-replica2 kafka s3 upload transcode stream api dbmon dbmon2
#
# Daemons run from the build tree $MCLOUD_BUILD_DIR (default <repo>/build);
# one that is not built yet is skipped with a message (build, then `up`).
# MCLOUD_UPLOAD_PORT moves mcloud-upload (e.g. a second replica by hand);
# MCLOUD_TRANSCODE_PORT moves the worker's health/metrics port; MCLOUD_STREAM_PORT
# moves mcloud-stream (its disk cache is $MCLOUD_STACK/stream/cache);
# MCLOUD_API_PORT moves mcloud-api. `env` prints MCLOUD_API_URL and
# MCLOUD_API_KEY, an admin key of the tenant "local" made at the first `up`
# (kept in $MCLOUD_STACK/api/local.key, only its hash in MySQL).
#
# Adding a daemon (upload, stream, api, ...): append its name to COMPONENTS and
# define <name>_addr, <name>_launch, <name>_ready and optionally <name>_setup
# (runs after it answers), <name>_env, <name>_timeout and <name>_skip (true
# when it cannot run here: `up` says why and goes on) (names use _ for -).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
MCLOUD_LOG_PREFIX=stack

COMPONENTS=(sentinel1 sentinel2 sentinel3 redis redis-replica mysql-master mysql-replica mysql-replica2 kafka s3 upload transcode stream api dbmon dbmon2)
DAEMON_NAMES='mariadbd redis-server redis-sentinel java minio mcloud-upload mcloud-transcode mcloud-stream mcloud-api mcloud-dbmon mcloud-edge nginx mcloud-agent mcloud-orchestrator podman' # what `down` may sweep up
KAFKA_TOPICS=(mcloud.transcode.jobs:6 mcloud.video.events:6 mcloud.transcode.events:3 mcloud.transcode.dlq:3 mcloud.test:6)
# MCLOUD_KAFKA_TOPICS (NAME:PARTITIONS ..., may be empty) replaces that list:
# a test's private broker (tests/support/private_kafka.py) makes none
if [[ -v MCLOUD_KAFKA_TOPICS ]]; then read -ra KAFKA_TOPICS <<<"$MCLOUD_KAFKA_TOPICS"; fi
# How long a master waits for a replica's ack before falling back to
# asynchronous replication. The default (2^32-1 ms, ~49 days) means never:
# writes wait for a replica rather than being acknowledged without a copy
# (which also fences an isolated old master). 5000 restores the old fallback.
MYSQL_SEMISYNC_TIMEOUT_MS=${MCLOUD_MYSQL_SEMISYNC_TIMEOUT_MS:-4294967295}
MCLOUD_PORT_MYSQL_REPLICA2=${MCLOUD_PORT_MYSQL_REPLICA2:-13308}
MCLOUD_PORT_REDIS_REPLICA=${MCLOUD_PORT_REDIS_REPLICA:-16380}
MCLOUD_PORT_SENTINEL1=${MCLOUD_PORT_SENTINEL1:-16381}
MCLOUD_PORT_SENTINEL2=${MCLOUD_PORT_SENTINEL2:-16382}
MCLOUD_PORT_SENTINEL3=${MCLOUD_PORT_SENTINEL3:-16383}
# Sentinel's down-after (its default is 30000 ms; 2000 caused false
# failovers on a machine with a load average of 30)
REDIS_DOWN_AFTER_MS=${MCLOUD_REDIS_DOWN_AFTER_MS:-5000}

RUN_DIR=$MCLOUD_STACK/run
LOG_DIR=$MCLOUD_STACK/logs
STACK_REAL=$(realpath -m "$MCLOUD_STACK") # /proc/PID/cwd shows resolved paths
MCLOUD_BUILD_DIR=${MCLOUD_BUILD_DIR:-$(realpath -m "$(dirname "${BASH_SOURCE[0]}")/../build")}
MCLOUD_PORT_UPLOAD=${MCLOUD_UPLOAD_PORT:-18080}
MCLOUD_PORT_TRANSCODE=${MCLOUD_TRANSCODE_PORT:-18083}
MCLOUD_PORT_STREAM=${MCLOUD_STREAM_PORT:-18081}
MCLOUD_PORT_API=${MCLOUD_API_PORT:-18082}
MCLOUD_PORT_DBMON=${MCLOUD_DBMON_PORT:-18086}
MCLOUD_PORT_DBMON2=${MCLOUD_DBMON2_PORT:-18087}
# the opt-in edge (`stack.sh edge up`): not among the default components, so
# `up` and `env` stay as the tests that use the daemons directly expect
MCLOUD_PORT_EDGE=${MCLOUD_EDGE_PORT:-18289}
MCLOUD_PORT_EDGE_UPLOAD=${MCLOUD_EDGE_UPLOAD_PORT:-18280}
MCLOUD_PORT_EDGE_STREAM=${MCLOUD_EDGE_STREAM_PORT:-18281}
MCLOUD_PORT_EDGE_API=${MCLOUD_EDGE_API_PORT:-18282}
MCLOUD_PORT_EDGE_UPLOAD_HTTPS=${MCLOUD_EDGE_UPLOAD_HTTPS_PORT:-18283}
MCLOUD_PORT_EDGE_STREAM_HTTPS=${MCLOUD_EDGE_STREAM_HTTPS_PORT:-18284}
MCLOUD_PORT_EDGE_API_HTTPS=${MCLOUD_EDGE_API_HTTPS_PORT:-18285}

# ============================================================================
# generic process management
# ============================================================================
fn()      { echo "${1//-/_}_$2"; }              # fn mysql-master ready -> mysql_master_ready
has_fn()  { declare -F "$(fn "$1" "$2")" >/dev/null; }
call()    { local c=$1 f=$2; shift 2; "$(fn "$c" "$f")" "$@"; }
pidfile() { echo "$RUN_DIR/$1.pid"; }
logfile() { echo "$LOG_DIR/$1.log"; }
cdir()    { echo "$MCLOUD_STACK/$1"; }
timeout_of() { if has_fn "$1" timeout; then call "$1" timeout; else echo 60; fi; }

skipped() { has_fn "$1" skip && call "$1" skip; }

is_component() { local c; for c in "${COMPONENTS[@]}"; do [[ $c == "$1" ]] && return 0; done; return 1; }

# ours PID: alive, in our pid namespace and running inside our state dir
# (every daemon's cwd is under $MCLOUD_STACK), so a recycled pid after a
# reboot is not mistaken for ours. The namespace matters: this host sees the
# processes of its containers, and /proc/PID/cwd shows their paths as the
# container sees them — the fresh-check container's stack is
# /root/.mcloud/stack too, so a host `down` (its sweep) killed that
# container's Sentinels, Redis and MariaDB (fresh-check8: mcloud-agent found
# no Sentinel 7 minutes after they started).
STACK_PIDNS=$(readlink /proc/self/ns/pid 2>/dev/null || true)
ours() {
  local pid=$1 cwd
  kill -0 "$pid" 2>/dev/null || return 1
  [[ $(readlink "/proc/$pid/ns/pid" 2>/dev/null) == "$STACK_PIDNS" ]] || return 1
  cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || return 1
  [[ $cwd == "$STACK_REAL" || $cwd == "$STACK_REAL"/* ]]
}

# comp_pid C: prints the pid of C when running; removes a stale pid file.
comp_pid() {
  local pf pid
  pf=$(pidfile "$1")
  [[ -f $pf ]] || return 1
  pid=$(cat "$pf" 2>/dev/null || true)
  if [[ $pid =~ ^[0-9]+$ ]] && ours "$pid"; then echo "$pid"; return 0; fi
  rm -f "$pf"
  return 1
}

# spawn C WORKDIR CMD...: runs CMD detached (own session, no inherited fds)
# with stdout/stderr appended to C's log and its pid in C's pid file.
spawn() {
  local c=$1 wd=$2 pf lf
  shift 2
  pf=$(pidfile "$c") lf=$(logfile "$c")
  rm -f "$pf"
  printf '\n===== %s stack.sh starting %s =====\n' "$(date -Is)" "$c" >>"$lf"
  # shellcheck disable=SC2016  # $$/$0/$@ expand in the child
  (cd "$wd" && exec setsid bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pf" "$@" \
     </dev/null >>"$lf" 2>&1 9>&-) &
  local i
  for i in $(seq 1 50); do [[ -s $pf ]] && return 0; sleep 0.1; done
  die "$c: process did not start (log: $lf)"
}

# fail_with_log C MESSAGE
fail_with_log() {
  local lf
  lf=$(logfile "$1")
  { echo "----- last lines of $lf -----"; tail -n 25 "$lf" 2>/dev/null || true; echo "-----"; } >&2
  die "$1: $2 (log: $lf)"
}

# await C: waits until C answers, then runs its setup.
await() {
  local c=$1 t0=$SECONDS limit pid
  skipped "$c" && return 0
  limit=$(timeout_of "$c")
  until call "$c" ready 2>/dev/null; do
    pid=$(comp_pid "$c") || fail_with_log "$c" "exited during startup"
    (( SECONDS - t0 < limit )) || fail_with_log "$c" "pid $pid not answering on $(call "$c" addr) after ${limit}s"
    sleep 0.5
  done
  if has_fn "$c" setup; then call "$c" setup; fi
}

# launch C: starts C unless it already runs; refuses a port taken by a stranger.
launch() {
  local c=$1 pid addr
  skipped "$c" && return 0
  if pid=$(comp_pid "$c"); then
    log "$c: already running (pid $pid)"
    return 0
  fi
  addr=$(call "$c" addr)
  if port_open "${addr##*:}" "${addr%:*}"; then
    die "$c: $addr is already in use by a process stack.sh did not start (stop it or set the port variable)"
  fi
  mkdir -p "$(cdir "$c")"
  log "$c: starting on $addr"
  call "$c" launch
}

# signal_stop C: SIGTERM to C's process group (returns 1 when not running).
signal_stop() {
  local c=$1 pid
  pid=$(comp_pid "$c") || { rm -f "$(pidfile "$c")"; return 1; }
  log "$c: stopping (pid $pid)"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  echo "$pid" >"$(pidfile "$c").stopping"
}

# wait_stopped C [SECONDS]: waits for C to exit after signal_stop, then SIGKILL.
wait_stopped() {
  local c=$1 limit=${2:-60} pid i sf
  sf=$(pidfile "$c").stopping
  pid=$(cat "$sf" 2>/dev/null) || return 0
  for ((i = 0; i < limit * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    warn "$c: still running after ${limit}s, sending SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$sf" "$(pidfile "$c")"
}

# terminate C...: stops the components in parallel and waits for all of them.
terminate() {
  local c
  for c in "$@"; do signal_stop "$c" || true; done
  for c in "$@"; do wait_stopped "$c"; done
}

# sweep: kills leftover daemons whose cwd is inside our state dir (e.g. a pid
# file was deleted by hand). Only the daemon executables we run are touched.
sweep() {
  local d pid comm
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    comm=$(cat "$d/comm" 2>/dev/null) || continue
    [[ " $DAEMON_NAMES " == *" $comm "* ]] || continue
    ours "$pid" || continue
    warn "killing leftover $comm (pid $pid) running in $(readlink "$d/cwd")"
    kill -KILL "$pid" 2>/dev/null || true
  done
}

with_lock() {
  mkdir -p "$MCLOUD_STACK" "$RUN_DIR" "$LOG_DIR"
  exec 9>"$MCLOUD_STACK/.lock"
  flock -w 300 9 || die "another stack.sh holds $MCLOUD_STACK/.lock"
}

# ============================================================================
# MariaDB: master + two semi-sync GTID replicas
# ============================================================================
# Three servers: mysql-master (server_id 1), mysql-replica (2), mysql-replica2
# (3). The component names say where each server starts life; which one is
# the master NOW is what the config service says (mcloud:config:mysql.master,
# set here at first setup and moved by mcloud-dbmon on failover/switchover).
# A server is started in the role the config service gives it: the published
# master as master, any other one read-only with --init-rpl-role=SLAVE (so a
# crashed old master truncates transactions no replica acknowledged) and
# attached to the published master (auto-rejoin; a server holding
# transactions the master never saw stops with a GTID error instead of being
# merged). Durability: semi-sync AFTER_SYNC, binlog and relay logs synced;
# with the default MCLOUD_MYSQL_SEMISYNC_TIMEOUT_MS a master without any
# replica ack waits instead of falling back to asynchronous replication.
mysql_sock() { echo "$(cdir "mysql-$1")/mysqld.sock"; }
mysql_root() { # mysql_root master|replica|replica2 SQL
  mariadb --no-defaults --protocol=socket --socket="$(mysql_sock "$1")" -uroot -N -B -e "$2"
}
mysql_slave_field() { # mysql_slave_field SERVER FIELD
  mariadb --no-defaults --protocol=socket --socket="$(mysql_sock "$1")" -uroot -e 'SHOW SLAVE STATUS\G' \
    | awk -v f="$2:" '$1 == f {print $2}'
}
mysql_status_var() { mysql_root "$1" "SHOW GLOBAL STATUS LIKE '$2'" | awk '{print $2}'; }
mysql_server_port() { # master|replica|replica2 -> port
  case $1 in
    master) echo "$MCLOUD_PORT_MYSQL_MASTER" ;;
    replica) echo "$MCLOUD_PORT_MYSQL_REPLICA" ;;
    replica2) echo "$MCLOUD_PORT_MYSQL_REPLICA2" ;;
  esac
}
mysql_server_addr() { echo "$MCLOUD_BIND:$(mysql_server_port "$1")"; }
# Each server also listens on its own loopback address, its peer address:
# the replicas replicate from the master's (MASTER_HOST), so an iptables
# rule on that address and port cuts replication and leaves the services,
# which reach every server at $MCLOUD_BIND, untouched. The monitors connect
# from their own addresses (dbmon.source_addr) for the same reason: a fault
# can cut one link and not the others (tests/chaos, `stack.sh peers`).
# Linux routes all of 127/8 to lo; ports stay per stack, addresses may be shared.
mysql_peer_host() { # master|replica|replica2 -> its peer address
  case $1 in
    master) echo "${MCLOUD_PEER_HOST_MYSQL_MASTER:-127.0.0.11}" ;;
    replica) echo "${MCLOUD_PEER_HOST_MYSQL_REPLICA:-127.0.0.12}" ;;
    replica2) echo "${MCLOUD_PEER_HOST_MYSQL_REPLICA2:-127.0.0.13}" ;;
  esac
}
dbmon_source_host() { # dbmon|dbmon2 -> the address its MariaDB connections come from
  case $1 in
    dbmon) echo "${MCLOUD_PEER_HOST_DBMON:-127.0.0.21}" ;;
    dbmon2) echo "${MCLOUD_PEER_HOST_DBMON2:-127.0.0.22}" ;;
  esac
}
mysql_bind_addresses() { # the server's bind-address list
  case $MCLOUD_BIND in
    0.0.0.0|::|'*') echo "$MCLOUD_BIND" ;;  # every address already
    *) echo "$MCLOUD_BIND,$(mysql_peer_host "$1")" ;;
  esac
}
mysql_master_host_of() { # ADDR (a published master) -> the host its replicas connect to
  local srv
  for srv in master replica replica2; do
    [[ $1 == "$(mysql_server_addr "$srv")" ]] && { mysql_peer_host "$srv"; return 0; }
  done
  echo "${1%:*}"
}
# the monitors' account on one server, from their own addresses; local to the
# server (not binlogged: no semi-sync wait, no GTID of its own), so it is
# made on each server at each start, also on a stack set up before it existed
mysql_monitor_users() {
  local name=$1 sql="SET SESSION sql_log_bin=0;" m h
  for m in dbmon dbmon2; do
    h=$(dbmon_source_host "$m")
    sql+=" CREATE USER IF NOT EXISTS '$MCLOUD_MYSQL_ADMIN_USER'@'$h' IDENTIFIED BY '$MCLOUD_MYSQL_ADMIN_PASSWORD';"
    sql+=" GRANT ALL ON *.* TO '$MCLOUD_MYSQL_ADMIN_USER'@'$h' WITH GRANT OPTION;"
  done
  mysql_root "$name" "$sql" || fail_with_log "mysql-$name" "monitor account setup failed"
}

# mysql_published_master: the master address the config service publishes
# (empty before the first setup). Remembered in a file, so a server started
# while Redis is down still gets the last known role, not its name's.
mysql_published_master() {
  local v cache=$MCLOUD_STACK/mysql-published-master i
  if comp_pid redis >/dev/null || comp_pid redis-replica >/dev/null; then
    for i in $(seq 1 40); do redis_cli ping >/dev/null 2>&1 && break; sleep 0.25; done
    # an error reply (a Redis still LOADING its data) is not an address:
    # then the cached value, as when Redis is down
    if v=$(redis_cli --raw GET mcloud:config:mysql.master 2>/dev/null) && [[ -z $v || $v =~ ^[^[:space:]]+:[0-9]+$ ]]; then
      [[ -n $v ]] && echo "$v" >"$cache"
      echo "$v"
      return 0
    fi
  fi
  cat "$cache" 2>/dev/null || true
}
# mysql_publish NAME VALUE: what mc_redis_config_set does (store, then announce)
mysql_publish() {
  redis_cli EVAL "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('PUBLISH', KEYS[2], ARGV[2])" \
    2 "mcloud:config:$1" mcloud:config:changed "$2" "$1" >/dev/null
}
mysql_role() { # master|replica|replica2 -> master|slave
  local pub
  pub=$(mysql_published_master)
  if [[ -n $pub ]]; then
    if [[ $pub == "$(mysql_server_addr "$1")" ]]; then echo master; else echo slave; fi
  elif [[ $1 == master ]]; then echo master
  else echo slave
  fi
}

# mysql_master_server: the server name (master|replica|replica2) that is the
# master now (it moves on a failover); "master" before the first setup.
mysql_master_server() {
  local srv
  for srv in master replica replica2; do
    [[ $(mysql_role "$srv") == master ]] && { echo "$srv"; return 0; }
  done
  echo master
}

mysql_write_cnf() { # mysql_write_cnf SERVER SERVER_ID ROLE
  local name=$1 id=$2 role=$3 dir
  dir=$(cdir "mysql-$name")
  (( ${#dir} < 90 )) || die "mysql-$name: state path too long for a unix socket: $dir (use a shorter MCLOUD_HOME)"
  {
    cat <<EOF
# generated by scripts/stack.sh — regenerated on each start (role: $role)
[mariadbd]
user                      = $(id -un)
datadir                   = $dir/data
socket                    = $dir/mysqld.sock
pid-file                  = $dir/mysqld.pid
port                      = $(mysql_server_port "$name")
bind-address              = $(mysql_bind_addresses "$name")
skip-name-resolve
server_id                 = $id
log_bin                   = mysql-bin
relay_log                 = relay-bin
binlog_format             = ROW
log_slave_updates         = ON
gtid_domain_id            = 0
gtid_strict_mode          = ON
# a replica gives a silent master up after this (heartbeats every 1 s):
# the monitor fails over only once the replicas lost the master too, so
# this bounds the failover after a partition (10 s gave 15-16 s)
slave_net_timeout         = 5
sync_binlog               = 1
sync_relay_log            = 1
sync_relay_log_info       = 1
sync_master_info          = 1
character-set-server      = utf8mb4
collation-server          = utf8mb4_unicode_ci
innodb_buffer_pool_size   = 64M
innodb_log_file_size      = 48M
innodb_flush_method       = O_DIRECT
performance_schema        = OFF
max_connections           = 300
table_open_cache          = 400
key_buffer_size           = 8M
# every server can be promoted: the semi-sync settings are everywhere, the
# master side is switched on only where the server is the master
rpl_semi_sync_slave_enabled        = ON
rpl_semi_sync_master_timeout       = $MYSQL_SEMISYNC_TIMEOUT_MS
rpl_semi_sync_master_wait_point    = AFTER_SYNC
rpl_semi_sync_master_wait_no_slave = ON
EOF
    if [[ $role == master ]]; then
      printf '%s\n' 'init_rpl_role                = MASTER' 'rpl_semi_sync_master_enabled = ON' 'read_only                    = OFF'
    else
      printf '%s\n' 'init_rpl_role                = SLAVE' 'rpl_semi_sync_master_enabled = OFF' 'read_only                    = ON'
    fi
  } >"$dir/my.cnf"
}

mysql_launch() { # mysql_launch SERVER SERVER_ID
  local name=$1 id=$2 dir role
  dir=$(cdir "mysql-$name")
  role=$(mysql_role "$name")
  mysql_write_cnf "$name" "$id" "$role"
  if [[ ! -d $dir/data/mysql ]]; then
    log "mysql-$name: initializing datadir"
    rm -rf "$dir/data" "$dir/.setup-done"
    mariadb-install-db --defaults-file="$dir/my.cnf" --skip-test-db \
      --auth-root-authentication-method=socket >>"$(logfile "mysql-$name")" 2>&1 \
      || fail_with_log "mysql-$name" "mariadb-install-db failed"
  fi
  [[ $role == master ]] || log "mysql-$name: read-only replica (published master: $(mysql_published_master))"
  spawn "mysql-$name" "$dir" mariadbd --defaults-file="$dir/my.cnf"
}

mysql_ready() { # mysql_ready SERVER
  [[ $(mysql_root "$1" 'SELECT 1' 2>/dev/null) == 1 ]]
}

mysql_app_users_sql() {
  local u=$MCLOUD_MYSQL_USER p=$MCLOUD_MYSQL_PASSWORD db=$MCLOUD_MYSQL_DATABASE h
  local a=$MCLOUD_MYSQL_ADMIN_USER ap=$MCLOUD_MYSQL_ADMIN_PASSWORD
  echo "DELETE FROM mysql.global_priv WHERE User=''; FLUSH PRIVILEGES;"
  echo "CREATE DATABASE IF NOT EXISTS \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
  echo "CREATE USER IF NOT EXISTS '$MCLOUD_MYSQL_REPL_USER'@'127.0.0.1' IDENTIFIED BY '$MCLOUD_MYSQL_REPL_PASSWORD';"
  echo "GRANT REPLICATION SLAVE ON *.* TO '$MCLOUD_MYSQL_REPL_USER'@'127.0.0.1';"
  for h in 127.0.0.1 localhost; do
    echo "CREATE USER IF NOT EXISTS '$u'@'$h' IDENTIFIED BY '$p';"
    echo "GRANT ALL ON \`$db\`.* TO '$u'@'$h';"
    # per-test scratch databases: mcloud_<anything>
    echo "GRANT ALL ON \`${db//_/\\_}\\_%\`.* TO '$u'@'$h';"
    echo "GRANT REPLICATION CLIENT, SLAVE MONITOR ON *.* TO '$u'@'$h';"
    echo "CREATE USER IF NOT EXISTS '$a'@'$h' IDENTIFIED BY '$ap';"
    echo "GRANT ALL ON *.* TO '$a'@'$h' WITH GRANT OPTION;"
  done
}

# mysql_setup SERVER: the published master's first setup creates the
# database and users and publishes mysql.master / mysql.replica; any other
# server is attached to the published master and awaited until healthy.
mysql_setup() {
  local name=$1 stamp pub pos mhost
  stamp=$(cdir "mysql-$name")/.setup-done
  mysql_monitor_users "$name"
  if [[ $(mysql_role "$name") == master ]]; then
    if [[ ! -f $stamp ]]; then
      log "mysql-$name: creating database '$MCLOUD_MYSQL_DATABASE' and users"
      # no replica is attached yet: semi-sync off meanwhile, or the first
      # commit would wait for a replica's ack
      mysql_root "$name" "SET GLOBAL rpl_semi_sync_master_enabled=OFF; $(mysql_app_users_sql)
        SET GLOBAL rpl_semi_sync_master_enabled=ON;" || fail_with_log "mysql-$name" "user setup failed"
      touch "$stamp"
    fi
    if [[ -z $(mysql_published_master) ]]; then
      log "mysql-$name: publishing mysql.master=$(mysql_server_addr "$name") in the config service"
      mysql_publish mysql.master "$(mysql_server_addr "$name")" \
        || fail_with_log "mysql-$name" "publishing mysql.master failed (is redis up?)"
      mysql_publish mysql.replica "$(mysql_server_addr replica)" || true
      mysql_published_master >/dev/null
    fi
    return 0
  fi
  pub=$(mysql_published_master)
  [[ -n $pub ]] || die "mysql-$name: no published master yet (start redis and mysql-master first)"
  if [[ ! -f $stamp || -z $(mysql_slave_field "$name" Master_Host) ]]; then
    # A fresh replica replays the master's binlog from the start, which holds
    # every user and database the master setup created; a returning old
    # master continues from its own binlog position (current_pos).
    pos=current_pos
    [[ -f $stamp ]] || pos=slave_pos
    mhost=$(mysql_master_host_of "$pub")
    log "mysql-$name: replicating from $pub through $mhost (GTID $pos, semi-sync)"
    mysql_root "$name" "STOP SLAVE; RESET SLAVE ALL; $([[ $pos == slave_pos ]] && echo "SET GLOBAL gtid_slave_pos='';")
      CHANGE MASTER TO MASTER_HOST='$mhost', MASTER_PORT=${pub##*:},
        MASTER_USER='$MCLOUD_MYSQL_REPL_USER', MASTER_PASSWORD='$MCLOUD_MYSQL_REPL_PASSWORD',
        MASTER_USE_GTID=$pos, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=1;
      START SLAVE;" || fail_with_log "mysql-$name" "CHANGE MASTER failed"
    touch "$stamp"
  elif [[ $(mysql_slave_field "$name" Master_Host) == "${pub%:*}" && $(mysql_slave_field "$name" Master_Port) == "${pub##*:}" \
          && ${pub%:*} != "$(mysql_master_host_of "$pub")" ]]; then
    # set up before the peer addresses: the same master, through its peer address
    mhost=$(mysql_master_host_of "$pub")
    log "mysql-$name: replicating from $pub through $mhost from now on"
    mysql_root "$name" "STOP SLAVE; CHANGE MASTER TO MASTER_HOST='$mhost', MASTER_PORT=${pub##*:}; START SLAVE;" \
      || fail_with_log "mysql-$name" "CHANGE MASTER failed"
  fi
  # when the master answers, wait for replication to be healthy
  port_open "${pub##*:}" "${pub%:*}" || return 0
  local t0=$SECONDS io sql semi
  while :; do
    io=$(mysql_slave_field "$name" Slave_IO_Running)
    sql=$(mysql_slave_field "$name" Slave_SQL_Running)
    semi=$(mysql_status_var "$name" Rpl_semi_sync_slave_status)
    [[ $io == Yes && $sql == Yes && $semi == ON ]] && break
    if (( SECONDS - t0 > 30 )); then
      mariadb --no-defaults --socket="$(mysql_sock "$name")" -uroot -e 'SHOW SLAVE STATUS\G' >&2 || true
      fail_with_log "mysql-$name" "replication not healthy (IO=$io SQL=$sql semi-sync=$semi)"
    fi
    sleep 0.5
  done
}

mysql_master_addr()     { mysql_server_addr master; }
mysql_master_launch()   { mysql_launch master 1; }
mysql_master_ready()    { mysql_ready master; }
mysql_master_setup()    { mysql_setup master; }
mysql_replica_addr()    { mysql_server_addr replica; }
mysql_replica_launch()  { mysql_launch replica 2; }
mysql_replica_ready()   { mysql_ready replica; }
mysql_replica_setup()   { mysql_setup replica; }
mysql_replica2_addr()   { mysql_server_addr replica2; }
mysql_replica2_launch() { mysql_launch replica2 3; }
mysql_replica2_ready()  { mysql_ready replica2; }
mysql_replica2_setup()  { mysql_setup replica2; }

# ============================================================================
# Redis: master + replica + three Sentinels (master name "mcloud")
# ============================================================================
# Which of redis / redis-replica is the master NOW is what the Sentinels say;
# a server is started as the master only when no Sentinel runs yet (first
# start) or they name it, otherwise as a replica of the master they name.
# The daemons reach Redis as sentinel://mcloud@<sentinels> (common/redis),
# so they follow a failover; `stack.sh env` prints the current master's
# host:port for tools and MCLOUD_REDIS_SENTINEL for clients that follow.
REDIS_MASTER_NAME=mcloud
redis_server_port() { case $1 in redis) echo "$MCLOUD_PORT_REDIS" ;; redis-replica) echo "$MCLOUD_PORT_REDIS_REPLICA" ;; esac; }
sentinel_port() { case $1 in sentinel1) echo "$MCLOUD_PORT_SENTINEL1" ;; sentinel2) echo "$MCLOUD_PORT_SENTINEL2" ;; sentinel3) echo "$MCLOUD_PORT_SENTINEL3" ;; esac; }
sentinel_spec() { echo "sentinel://$REDIS_MASTER_NAME@$MCLOUD_BIND:$MCLOUD_PORT_SENTINEL1,$MCLOUD_BIND:$MCLOUD_PORT_SENTINEL2,$MCLOUD_BIND:$MCLOUD_PORT_SENTINEL3"; }
# redis_sentinel_master: "host port" of the master a running Sentinel names (empty if none answers)
# (Sentinels start first, so a Redis server is started in the role they
# remember — after a failover, redis-replica may be the master.)
redis_sentinel_master() {
  local s out i
  for s in sentinel1 sentinel2 sentinel3; do
    comp_pid "$s" >/dev/null || continue
    for i in $(seq 1 20); do sentinel_ready_any "$s" && break; sleep 0.25; done
    out=$(redis-cli -h "$MCLOUD_BIND" -p "$(sentinel_port "$s")" --raw SENTINEL get-master-addr-by-name "$REDIS_MASTER_NAME" 2>/dev/null | tr '\n' ' ')
    [[ $out =~ ^[^\ ]+\ [0-9]+\ $ ]] && { echo "${out% }"; return 0; }
  done
}
# redis_master_port: the current master's port (the Sentinels', else redis's)
redis_master_port() {
  local m
  m=$(redis_sentinel_master)
  if [[ -n $m ]]; then echo "${m#* }"; else echo "$MCLOUD_PORT_REDIS"; fi
}
redis_cli() { redis-cli -h "$MCLOUD_BIND" -p "$(redis_master_port)" "$@"; }

redis_server_launch() { # redis_server_launch redis|redis-replica
  local c=$1 dir port m replicaof=
  dir=$(cdir "$c") port=$(redis_server_port "$c")
  m=$(redis_sentinel_master)
  if [[ -n $m && $m != "$MCLOUD_BIND $port" ]]; then replicaof="replicaof $m"
  elif [[ -z $m && $c == redis-replica ]]; then replicaof="replicaof $MCLOUD_BIND $MCLOUD_PORT_REDIS"
  fi
  cat >"$dir/redis.conf" <<EOF
# generated by scripts/stack.sh — regenerated on each start
bind $MCLOUD_BIND
port $port
protected-mode yes
daemonize no
dir $dir
logfile ""
unixsocket $dir/redis.sock
unixsocketperm 700
appendonly yes
appendfsync everysec
notify-keyspace-events KEgx
maxmemory 1gb
maxmemory-policy noeviction
replica-read-only yes
$replicaof
EOF
  [[ -z $replicaof ]] || log "$c: starting as a replica ($replicaof)"
  spawn "$c" "$dir" redis-server "$dir/redis.conf"
}
redis_addr()            { echo "$MCLOUD_BIND:$MCLOUD_PORT_REDIS"; }
redis_ready()           { [[ $(redis-cli -h "$MCLOUD_BIND" -p "$MCLOUD_PORT_REDIS" ping 2>/dev/null) == PONG ]]; }
redis_launch()          { redis_server_launch redis; }
redis_replica_addr()    { echo "$MCLOUD_BIND:$MCLOUD_PORT_REDIS_REPLICA"; }
redis_replica_ready()   { [[ $(redis-cli -h "$MCLOUD_BIND" -p "$MCLOUD_PORT_REDIS_REPLICA" ping 2>/dev/null) == PONG ]]; }
redis_replica_launch()  { redis_server_launch redis-replica; }

# A Sentinel rewrites its own file (current master, epochs): written once.
sentinel_launch_any() { # sentinel_launch_any sentinelN
  local c=$1 dir
  dir=$(cdir "$c")
  if [[ ! -f $dir/sentinel.conf ]]; then
    cat >"$dir/sentinel.conf" <<EOF
# written once by scripts/stack.sh; Redis Sentinel keeps it current
bind $MCLOUD_BIND
port $(sentinel_port "$c")
daemonize no
dir $dir
logfile ""
sentinel monitor $REDIS_MASTER_NAME $MCLOUD_BIND $MCLOUD_PORT_REDIS 2
sentinel down-after-milliseconds $REDIS_MASTER_NAME $REDIS_DOWN_AFTER_MS
sentinel failover-timeout $REDIS_MASTER_NAME 10000
sentinel parallel-syncs $REDIS_MASTER_NAME 1
EOF
  fi
  spawn "$c" "$dir" redis-sentinel "$dir/sentinel.conf"
}
# redis_promote C: makes Redis component C the master again (SENTINEL
# FAILOVER; with one replica, it is the one promoted), e.g. after a test
# stopped the master and Sentinel moved it.
redis_promote() {
  local c=$1 want i j
  want="$MCLOUD_BIND $(redis_server_port "$c")"
  for i in $(seq 1 20); do
    redis_is_master "$want" && { log "$c: is the Redis master"; return 0; }
    [[ $(redis_sentinel_master) == "$want" ]] ||
      redis-cli -h "$MCLOUD_BIND" -p "$MCLOUD_PORT_SENTINEL1" SENTINEL FAILOVER "$REDIS_MASTER_NAME" >/dev/null 2>&1 || true
    for j in $(seq 1 25); do redis_is_master "$want" && break; sleep 0.2; done
  done
  redis_is_master "$want" || die "$c: could not make it the Redis master (Sentinels name: $(redis_sentinel_masters))"
  log "$c: is the Redis master"
}
# redis_is_master "HOST PORT": every running Sentinel names it, and it says
# it is the master (a failover is over only then: one Sentinel may have
# switched before the others, and clients ask any of them)
redis_is_master() {
  local s out
  for s in sentinel1 sentinel2 sentinel3; do
    comp_pid "$s" >/dev/null || continue
    out=$(redis-cli -h "$MCLOUD_BIND" -p "$(sentinel_port "$s")" --raw SENTINEL get-master-addr-by-name "$REDIS_MASTER_NAME" 2>/dev/null | tr '\n' ' ')
    [[ ${out% } == "$1" ]] || return 1
  done
  [[ $(redis-cli -h "${1% *}" -p "${1#* }" --raw ROLE 2>/dev/null | head -1) == master ]]
}
redis_sentinel_masters() {
  local s
  for s in sentinel1 sentinel2 sentinel3; do
    comp_pid "$s" >/dev/null || continue
    printf '%s: %s; ' "$s" "$(redis-cli -h "$MCLOUD_BIND" -p "$(sentinel_port "$s")" --raw SENTINEL get-master-addr-by-name "$REDIS_MASTER_NAME" 2>&1 | tr '\n' ' ')"
  done
}
# the file is written once, so the tunable is applied at every start
sentinel_setup_any() {
  redis-cli -h "$MCLOUD_BIND" -p "$(sentinel_port "$1")" SENTINEL SET "$REDIS_MASTER_NAME" \
    down-after-milliseconds "$REDIS_DOWN_AFTER_MS" >/dev/null || warn "$1: SENTINEL SET down-after-milliseconds failed"
}
sentinel1_setup()  { sentinel_setup_any sentinel1; }
sentinel2_setup()  { sentinel_setup_any sentinel2; }
sentinel3_setup()  { sentinel_setup_any sentinel3; }
sentinel_ready_any() { [[ $(redis-cli -h "$MCLOUD_BIND" -p "$(sentinel_port "$1")" ping 2>/dev/null) == PONG ]]; }
# sentinels_check: after `up` (and before the platform daemons, which reach
# Redis only through them): every Sentinel runs, answers and names a master;
# a dead or silent one fails here with its log, not later in a daemon's start.
sentinels_check() {
  local s pid out
  for s in sentinel1 sentinel2 sentinel3; do
    skipped "$s" && continue
    pid=$(comp_pid "$s") || fail_with_log "$s" "not running (it was started by stack.sh up: see its log for how it ended)"
    # (timeout: a stopped Sentinel accepts the connection and never answers)
    [[ $(timeout 5 redis-cli -h "$MCLOUD_BIND" -p "$(sentinel_port "$s")" ping 2>/dev/null) == PONG ]] ||
      fail_with_log "$s" "pid $pid does not answer PING on $MCLOUD_BIND:$(sentinel_port "$s") within 5 s"
    out=$(timeout 5 redis-cli -h "$MCLOUD_BIND" -p "$(sentinel_port "$s")" --raw SENTINEL get-master-addr-by-name "$REDIS_MASTER_NAME" 2>&1 | tr '\n' ' ')
    [[ $out =~ ^[^\ ]+\ [0-9]+\ $ ]] || fail_with_log "$s" "pid $pid names no master '$REDIS_MASTER_NAME' (answered: ${out:-nothing})"
  done
}
sentinel1_addr()   { echo "$MCLOUD_BIND:$MCLOUD_PORT_SENTINEL1"; }
sentinel1_launch() { sentinel_launch_any sentinel1; }
sentinel1_ready()  { sentinel_ready_any sentinel1; }
sentinel2_addr()   { echo "$MCLOUD_BIND:$MCLOUD_PORT_SENTINEL2"; }
sentinel2_launch() { sentinel_launch_any sentinel2; }
sentinel2_ready()  { sentinel_ready_any sentinel2; }
sentinel3_addr()   { echo "$MCLOUD_BIND:$MCLOUD_PORT_SENTINEL3"; }
sentinel3_launch() { sentinel_launch_any sentinel3; }
sentinel3_ready()  { sentinel_ready_any sentinel3; }

# ============================================================================
# Kafka (KRaft, combined broker + controller)
# ============================================================================
kafka_timeout() { echo 120; }
kafka_addr()    { echo "$MCLOUD_BIND:$MCLOUD_PORT_KAFKA"; }
kafka_ready()   { port_open "$MCLOUD_PORT_KAFKA" && kcat -b "$(kafka_addr)" -L -m 3 >/dev/null 2>&1; }

kafka_tool() { # kafka_tool MAIN-CLASS ARGS... — short-lived JVM for admin tools
  java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto \
    -Dlog4j2.configurationFile="$(cdir kafka)/log4j2-tools.properties" \
    -cp "$KAFKA_JARS/*" "$@"
}

kafka_write_conf() {
  local dir=$1
  cat >"$dir/server.properties" <<EOF
# generated by scripts/stack.sh — regenerated on each start
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$MCLOUD_BIND:$MCLOUD_PORT_KAFKA_CONTROLLER
listeners=PLAINTEXT://$MCLOUD_BIND:$MCLOUD_PORT_KAFKA,CONTROLLER://$MCLOUD_BIND:$MCLOUD_PORT_KAFKA_CONTROLLER
advertised.listeners=PLAINTEXT://$MCLOUD_BIND:$MCLOUD_PORT_KAFKA,CONTROLLER://$MCLOUD_BIND:$MCLOUD_PORT_KAFKA_CONTROLLER
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=168
log.segment.bytes=104857600
num.network.threads=2
num.io.threads=4
# fast re-registration after an unclean stop (kill -9, reboot)
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=1000
EOF
  local layout='%d{ISO8601} %p %m (%c)%n'
  cat >"$dir/log4j2.properties" <<EOF
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = $layout
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF
  cat >"$dir/log4j2-tools.properties" <<EOF
status = warn
appender.err.type = Console
appender.err.name = ERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = $layout
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = ERR
EOF
}

kafka_launch() {
  local dir
  dir=$(cdir kafka)
  [[ -f $KAFKA_JARS/kafka_2.13-$KAFKA_VERSION.jar ]] || die "kafka: jars missing in $KAFKA_JARS (run scripts/bootstrap.sh)"
  kafka_write_conf "$dir"
  if [[ ! -f $dir/data/meta.properties ]]; then
    local id
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    log "kafka: formatting storage (cluster id $id)"
    mkdir -p "$dir/data"
    kafka_tool kafka.tools.StorageTool format --standalone --ignore-formatted \
      --cluster-id="$id" --config "$dir/server.properties" >>"$(logfile kafka)" 2>&1 \
      || fail_with_log kafka "storage format failed"
  fi
  spawn kafka "$dir" java -Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$dir/log4j2.properties" \
    -Dkafka.logs.dir="$dir/logs" -cp "$KAFKA_JARS/*" kafka.Kafka "$dir/server.properties"
}

kafka_topic_partitions() { # name -> partitions (empty when missing)
  kcat -b "$(kafka_addr)" -L -t "$1" -J -m 5 2>/dev/null \
    | jq -r --arg t "$1" '.topics[] | select(.topic == $t and .partitions != null and (.partitions | length) > 0) | .partitions | length'
}

# Topics of test runs that died before their cleanup (the transcode worker
# tests' tw.<run>.*, the webhook tests' wh.<run>.*, the autoscaler's as.<run>.*): the broker loads every
# partition it holds at each start, so thousands left by earlier runs turn a
# restart of seconds into minutes (seen: 2.6 min with 3100 partitions).
kafka_prune_test_topics() {
  local n
  n=$(kcat -b "$(kafka_addr)" -L -J -m 10 2>/dev/null | jq -r '.topics[].topic' | grep -cE '^(tw|wh|as)\.' || true)
  [[ ${n:-0} -gt 0 ]] || return 0
  log "kafka: deleting $n topics left by earlier test runs (tw.*, wh.*, as.*)"
  kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$(kafka_addr)" --delete \
    --topic '(tw|wh|as)\..*' >>"$(logfile kafka)" 2>&1 || warn "kafka: deleting old test topics failed (left as is)"
}

kafka_setup() {
  local spec name parts have_parts pids=() names=() i rc=0 out
  # (a private broker's topics are its test's, kept across its restarts)
  [[ -v MCLOUD_KAFKA_TOPICS ]] || kafka_prune_test_topics
  out=$(mktemp -d)
  for spec in "${KAFKA_TOPICS[@]}"; do
    name=${spec%:*} parts=${spec#*:}
    have_parts=$(kafka_topic_partitions "$name" || true)
    if [[ -z $have_parts ]]; then
      # one JVM per topic, in parallel: JVM start-up dominates
      log "kafka: creating topic $name ($parts partitions)"
      kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$(kafka_addr)" --create \
        --if-not-exists --topic "$name" --partitions "$parts" --replication-factor 1 >"$out/$name" 2>&1 &
      pids+=($!) names+=("$name")
    elif [[ $have_parts != "$parts" ]]; then
      warn "kafka: topic $name has $have_parts partitions, expected $parts (left as is)"
    fi
  done
  for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
      cat "$out/${names[$i]}" >&2
      warn "kafka: creating topic ${names[$i]} failed"
      rc=1
    fi
  done
  rm -rf "$out"
  [[ $rc -eq 0 ]] || die "kafka: topic creation failed"
}

# ============================================================================
# S3 (MinIO)
# ============================================================================
s3_addr()  { echo "$MCLOUD_BIND:$MCLOUD_PORT_S3"; }
s3_ready() { curl -fsS -o /dev/null --max-time 2 "http://$(s3_addr)/minio/health/ready"; }
s3_launch() {
  local dir
  dir=$(cdir s3)
  [[ -x $MINIO_BIN ]] || die "s3: $MINIO_BIN missing (run scripts/bootstrap.sh)"
  mkdir -p "$dir/data"
  spawn s3 "$dir" env MINIO_ROOT_USER="$MCLOUD_S3_ACCESS_KEY" MINIO_ROOT_PASSWORD="$MCLOUD_S3_SECRET_KEY" \
    MINIO_SITE_REGION="$MCLOUD_S3_REGION" MINIO_UPDATE=off MINIO_BROWSER=on \
    "$MINIO_BIN" server --address "$(s3_addr)" --console-address "$MCLOUD_BIND:$MCLOUD_PORT_S3_CONSOLE" "$dir/data"
}
s3_setup() {
  [[ -x $MCLOUD_VENV/bin/python ]] || die "s3: $MCLOUD_VENV missing (run scripts/bootstrap.sh)"
  MCLOUD_S3_ENDPOINT="http://$(s3_addr)" MCLOUD_S3_REGION="$MCLOUD_S3_REGION" MCLOUD_S3_BUCKET="$MCLOUD_S3_BUCKET" \
  MCLOUD_S3_ACCESS_KEY="$MCLOUD_S3_ACCESS_KEY" MCLOUD_S3_SECRET_KEY="$MCLOUD_S3_SECRET_KEY" \
    "$MCLOUD_VENV/bin/python" - <<'EOF' || die "s3: creating bucket failed"
import os, sys, boto3, botocore
s3 = boto3.client("s3", endpoint_url=os.environ["MCLOUD_S3_ENDPOINT"],
                  region_name=os.environ["MCLOUD_S3_REGION"],
                  aws_access_key_id=os.environ["MCLOUD_S3_ACCESS_KEY"],
                  aws_secret_access_key=os.environ["MCLOUD_S3_SECRET_KEY"])
bucket = os.environ["MCLOUD_S3_BUCKET"]
try:
    s3.head_bucket(Bucket=bucket)
except botocore.exceptions.ClientError:
    s3.create_bucket(Bucket=bucket)
    print(f"[stack] s3: created bucket {bucket}", file=sys.stderr)
EOF
}

# ============================================================================
# upload (mcloud-upload, the tus endpoint)
# ============================================================================
upload_bin()   { echo "$MCLOUD_BUILD_DIR/upload/mcloud-upload"; }
upload_addr()  { echo "$MCLOUD_BIND:$MCLOUD_PORT_UPLOAD"; }
upload_ready() { curl -fsS -o /dev/null --max-time 2 "http://$(upload_addr)/readyz"; }
upload_skip() {
  [[ -x $(upload_bin) ]] && return 1
  log "upload: $(upload_bin) is not built (cmake --build build), skipping it"
  return 0
}
# public_url upload|stream|api: the address a daemon hands out for a public
# service. With the edge running (make run's platform), every instance
# registers behind it, whether the orchestrator or this script started it, so
# each hands out the edge's address: a client gets the same URLs whichever
# instance the edge picked (make test after make run met this host's mcloud-api
# answering with the stream daemon's own port while the containers' gave the
# edge's: e2e.stream.player in the fresh-check on a1e92ad). Else its own.
public_url() {
  if comp_pid edge >/dev/null; then
    case $1 in
      upload) echo "http://$MCLOUD_BIND:$MCLOUD_PORT_EDGE_UPLOAD" ;;
      stream) echo "http://$MCLOUD_BIND:$MCLOUD_PORT_EDGE_STREAM" ;;
      api)    echo "http://$MCLOUD_BIND:$MCLOUD_PORT_EDGE_API" ;;
    esac
  else
    echo "http://$("${1}_addr")"
  fi
}
upload_launch() {
  local -a vars
  mapfile -t vars < <(client_env)
  spawn upload "$(cdir upload)" env "${vars[@]}" MCLOUD_HTTP_BIND="$MCLOUD_BIND" \
    MCLOUD_UPLOAD_PORT="$MCLOUD_PORT_UPLOAD" MCLOUD_UPLOAD_PUBLIC_URL="$(public_url upload)" \
    "$(upload_bin)"
}
upload_env() {
  local token_bin=$MCLOUD_BUILD_DIR/upload/mcloud-token
  echo "export MCLOUD_UPLOAD_URL='http://$(upload_addr)/files/'"
  [[ -x $token_bin ]] || return 0
  echo "export MCLOUD_UPLOAD_TOKEN='$("$token_bin" --tenant local --ttl $((86400 * 30)))'"
}

# ============================================================================
# transcode (mcloud-transcode, one worker of the consumer group)
# ============================================================================
transcode_bin()   { echo "$MCLOUD_BUILD_DIR/transcode/mcloud-transcode"; }
transcode_addr()  { echo "$MCLOUD_BIND:$MCLOUD_PORT_TRANSCODE"; }
transcode_ready() { curl -fsS -o /dev/null --max-time 2 "http://$(transcode_addr)/readyz"; }
transcode_skip() {
  [[ -x $(transcode_bin) ]] && return 1
  log "transcode: $(transcode_bin) is not built (cmake --build build), skipping it"
  return 0
}
transcode_launch() {
  local -a vars
  mapfile -t vars < <(client_env)
  mkdir -p "$(cdir transcode)/tmp"
  spawn transcode "$(cdir transcode)" env "${vars[@]}" MCLOUD_HTTP_BIND="$MCLOUD_BIND" \
    MCLOUD_TRANSCODE_PORT="$MCLOUD_PORT_TRANSCODE" MCLOUD_TRANSCODE_TMP_DIR="$(cdir transcode)/tmp" \
    "$(transcode_bin)"
}
transcode_env() { echo "export MCLOUD_TRANSCODE_URL='http://$(transcode_addr)'"; }

# ============================================================================
# stream (mcloud-stream, playback from S3 through a disk cache)
# ============================================================================
stream_bin()   { echo "$MCLOUD_BUILD_DIR/stream/mcloud-stream"; }
stream_addr()  { echo "$MCLOUD_BIND:$MCLOUD_PORT_STREAM"; }
stream_ready() { curl -fsS -o /dev/null --max-time 2 "http://$(stream_addr)/readyz"; }
stream_skip() {
  [[ -x $(stream_bin) ]] && return 1
  log "stream: $(stream_bin) is not built (cmake --build build), skipping it"
  return 0
}
stream_launch() {
  local -a vars
  mapfile -t vars < <(client_env)
  mkdir -p "$(cdir stream)/cache"
  spawn stream "$(cdir stream)" env "${vars[@]}" MCLOUD_HTTP_BIND="$MCLOUD_BIND" \
    MCLOUD_STREAM_PORT="$MCLOUD_PORT_STREAM" MCLOUD_STREAM_PUBLIC_URL="$(public_url stream)" \
    MCLOUD_STREAM_CACHE_DIR="$(cdir stream)/cache" "$(stream_bin)"
}
stream_env() { echo "export MCLOUD_STREAM_URL='http://$(stream_addr)'"; }

# ============================================================================
# api (mcloud-api, the consumer REST API)
# ============================================================================
api_bin()   { echo "$MCLOUD_BUILD_DIR/api/mcloud-api"; }
api_addr()  { echo "$MCLOUD_BIND:$MCLOUD_PORT_API"; }
api_ready() { curl -fsS -o /dev/null --max-time 2 "http://$(api_addr)/readyz"; }
api_keyfile() { echo "$(cdir api)/local.key"; }
api_skip() {
  [[ -x $(api_bin) ]] && return 1
  log "api: $(api_bin) is not built (cmake --build build), skipping it"
  return 0
}
# The local stack is a development and test bed: webhook receivers run on
# this machine (loopback allowed), failed deliveries come back within
# seconds, not the production schedule, and 40 failed attempts in a row disable
# an endpoint, and the retention sweep runs every second (old rows are
# made by the tests backdating them). tests/integration/api/apitest.py
# gives the tests' own mcloud-api the same values: any instance's sender may
# take a delivery, so they must agree.
API_WEBHOOK_ENV=(MCLOUD_WEBHOOKS_ALLOW_PRIVATE=true MCLOUD_WEBHOOKS_RETRY_INITIAL_MS=500
                 MCLOUD_WEBHOOKS_RETRY_MAX_MS=4000 MCLOUD_WEBHOOKS_POLL_MS=200
                 MCLOUD_WEBHOOKS_DISABLE_AFTER_FAILURES=40 MCLOUD_WEBHOOKS_SWEEP_INTERVAL_MS=1000)
api_launch() {
  local -a vars
  mapfile -t vars < <(client_env)
  spawn api "$(cdir api)" env "${vars[@]}" MCLOUD_HTTP_BIND="$MCLOUD_BIND" \
    MCLOUD_API_PORT="$MCLOUD_PORT_API" MCLOUD_API_PUBLIC_URL="$(public_url api)" \
    MCLOUD_UPLOAD_PUBLIC_URL="$(public_url upload)" MCLOUD_STREAM_PUBLIC_URL="$(public_url stream)" \
    "${API_WEBHOOK_ENV[@]}" "$(api_bin)"
}
# The local tenant's admin key: made once (random, only its SHA-256 in
# MySQL, like every key), made again when the database no longer knows it.
api_setup() {
  local file key hash known
  file=$(api_keyfile)
  key=$(cat "$file" 2>/dev/null || true)
  if [[ -n $key ]]; then
    hash=$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)
    known=$(mysql_root "$(mysql_master_server)" "SELECT COUNT(*) FROM \`$MCLOUD_MYSQL_DATABASE\`.api_keys WHERE key_hash = '$hash' AND revoked_at IS NULL")
    [[ $known == 1 ]] && return 0
  fi
  key="mck_$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')"
  hash=$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)
  mysql_root "$(mysql_master_server)" "INSERT INTO \`$MCLOUD_MYSQL_DATABASE\`.api_keys (id, tenant_id, key_prefix, key_hash, scopes, name) VALUES ('key_local$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')', 'local', '${key:0:12}', '$hash', 'videos:read videos:write webhooks admin', 'stack.sh local admin')" \
    || die "api: cannot store the local tenant's key"
  (umask 077; printf '%s\n' "$key" >"$file")
  log "api: made an admin key of tenant local ($file)"
}
api_env() {
  echo "export MCLOUD_API_URL='http://$(api_addr)'"
  local key
  key=$(cat "$(api_keyfile)" 2>/dev/null || true)
  [[ -n $key ]] && echo "export MCLOUD_API_KEY='$key'"
  return 0
}

# ============================================================================
# dbmon, dbmon2 (mcloud-dbmon: the MariaDB failover monitor, two instances,
# one active through the Redis lock "dbmon")
# ============================================================================
dbmon_bin() { echo "$MCLOUD_BUILD_DIR/dbmon/mcloud-dbmon"; }
dbmon_servers() { echo "$(mysql_server_addr master),$(mysql_server_addr replica),$(mysql_server_addr replica2)"; }
dbmon_skip_any() {
  [[ -x $(dbmon_bin) ]] && return 1
  log "$1: $(dbmon_bin) is not built (cmake --build build), skipping it"
  return 0
}
# the MASTER_HOST each server's replicas use, in dbmon_servers' order
dbmon_peer_hosts() { echo "$(mysql_peer_host master),$(mysql_peer_host replica),$(mysql_peer_host replica2)"; }
dbmon_launch_any() { # dbmon_launch_any COMPONENT PORT
  local -a vars
  mapfile -t vars < <(client_env)
  spawn "$1" "$(cdir "$1")" env "${vars[@]}" MCLOUD_HTTP_BIND="$MCLOUD_BIND" MCLOUD_DBMON_PORT="$2" \
    MCLOUD_DBMON_SERVERS="$(dbmon_servers)" MCLOUD_DBMON_SOURCE_ADDR="$(dbmon_source_host "$1")" \
    MCLOUD_DBMON_PEER_HOSTS="$(dbmon_peer_hosts)" \
    MCLOUD_MYSQL_ADMIN_USER="$MCLOUD_MYSQL_ADMIN_USER" MCLOUD_MYSQL_ADMIN_PASSWORD="$MCLOUD_MYSQL_ADMIN_PASSWORD" \
    MCLOUD_MYSQL_REPL_USER="$MCLOUD_MYSQL_REPL_USER" MCLOUD_MYSQL_REPL_PASSWORD="$MCLOUD_MYSQL_REPL_PASSWORD" \
    "$(dbmon_bin)"
}
dbmon_addr()    { echo "$MCLOUD_BIND:$MCLOUD_PORT_DBMON"; }
dbmon_ready()   { curl -fsS -o /dev/null --max-time 2 "http://$(dbmon_addr)/readyz"; }
dbmon_skip()    { dbmon_skip_any dbmon; }
dbmon_launch()  { dbmon_launch_any dbmon "$MCLOUD_PORT_DBMON"; }
# a monitor started by hand on the stack (tests/integration/dbmon) must see
# replication through the peer hosts as replication from the master, as the
# stack's own monitors do, or it re-attaches every replica stack.sh attached
dbmon_env() {
  echo "export MCLOUD_DBMON_SERVERS='$(dbmon_servers)'"
  echo "export MCLOUD_DBMON_PEER_HOSTS='$(dbmon_peer_hosts)'"
}
dbmon2_bin()    { dbmon_bin; }
dbmon2_addr()   { echo "$MCLOUD_BIND:$MCLOUD_PORT_DBMON2"; }
dbmon2_ready()  { curl -fsS -o /dev/null --max-time 2 "http://$(dbmon2_addr)/readyz"; }
dbmon2_skip()   { dbmon_skip_any dbmon2; }
dbmon2_launch() { dbmon_launch_any dbmon2 "$MCLOUD_PORT_DBMON2"; }

# ============================================================================
# edge (mcloud-edge + nginx, opt-in: `stack.sh edge up|down|status|env`)
# ============================================================================
# mcloud-edge finds the stack's daemons in the Redis registry (each one
# registers itself), probes their /readyz and keeps nginx (prefix
# $MCLOUD_STACK/edge) balancing over the ready ones; HTTPS with a local CA it
# makes once ($MCLOUD_STACK/edge/tls/ca.pem: curl --cacert).
edge_bin()   { echo "$MCLOUD_BUILD_DIR/edge/mcloud-edge"; }
edge_addr()  { echo "$MCLOUD_BIND:$MCLOUD_PORT_EDGE"; }
edge_ready() { curl -fsS -o /dev/null --max-time 2 "http://$(edge_addr)/readyz"; }
edge_skip() {
  [[ -x $(edge_bin) ]] && return 1
  log "edge: $(edge_bin) is not built (cmake --build build), skipping it"
  return 0
}
edge_launch() {
  local -a vars
  mapfile -t vars < <(client_env)
  spawn edge "$(cdir edge)" env "${vars[@]}" MCLOUD_HTTP_BIND="$MCLOUD_BIND" MCLOUD_EDGE_BIND="$MCLOUD_BIND" \
    MCLOUD_EDGE_PORT="$MCLOUD_PORT_EDGE" MCLOUD_EDGE_DIR="$(realpath -m "$(cdir edge)")" \
    MCLOUD_EDGE_UPLOAD_PORT="$MCLOUD_PORT_EDGE_UPLOAD" MCLOUD_EDGE_STREAM_PORT="$MCLOUD_PORT_EDGE_STREAM" \
    MCLOUD_EDGE_API_PORT="$MCLOUD_PORT_EDGE_API" MCLOUD_EDGE_UPLOAD_HTTPS_PORT="$MCLOUD_PORT_EDGE_UPLOAD_HTTPS" \
    MCLOUD_EDGE_STREAM_HTTPS_PORT="$MCLOUD_PORT_EDGE_STREAM_HTTPS" MCLOUD_EDGE_API_HTTPS_PORT="$MCLOUD_PORT_EDGE_API_HTTPS" \
    "$(edge_bin)"
}
edge_env() {
  echo "export MCLOUD_UPLOAD_URL='http://$MCLOUD_BIND:$MCLOUD_PORT_EDGE_UPLOAD/files/'"
  echo "export MCLOUD_STREAM_URL='http://$MCLOUD_BIND:$MCLOUD_PORT_EDGE_STREAM'"
  echo "export MCLOUD_API_URL='http://$MCLOUD_BIND:$MCLOUD_PORT_EDGE_API'"
  echo "export MCLOUD_EDGE_URL='http://$(edge_addr)'"
  echo "export MCLOUD_EDGE_CA='$(realpath -m "$(cdir edge)")/tls/ca.pem'"
  echo "export MCLOUD_EDGE_HTTPS_UPLOAD_URL='https://localhost:$MCLOUD_PORT_EDGE_UPLOAD_HTTPS/files/'"
  echo "export MCLOUD_EDGE_HTTPS_STREAM_URL='https://localhost:$MCLOUD_PORT_EDGE_STREAM_HTTPS'"
  echo "export MCLOUD_EDGE_HTTPS_API_URL='https://localhost:$MCLOUD_PORT_EDGE_API_HTTPS'"
}
cmd_edge() {
  case ${1:-} in
    up)     with_lock; launch edge; await edge
            skipped edge || log "edge: upload http://$MCLOUD_BIND:$MCLOUD_PORT_EDGE_UPLOAD stream http://$MCLOUD_BIND:$MCLOUD_PORT_EDGE_STREAM api http://$MCLOUD_BIND:$MCLOUD_PORT_EDGE_API (HTTPS $MCLOUD_PORT_EDGE_UPLOAD_HTTPS-$MCLOUD_PORT_EDGE_API_HTTPS, CA $(cdir edge)/tls/ca.pem)" ;;
    down)   with_lock; terminate edge ;;
    status) cmd_status_of edge ;;
    env)    edge_env ;;
    *)      die "usage: stack.sh edge up|down|status|env" ;;
  esac
}

# ============================================================================
# the platform (opt-in: `stack.sh platform up|down|status|env|spec`): the
# mcloud services as containers, placed by mcloud-orchestrator
# ============================================================================
# What `make run` starts on top of the backing servers (`up --backing`):
# podman's Docker-API service (the engine the agent drives, its socket in
# $MCLOUD_STACK/podman), one mcloud-agent (this machine is one node, named
# after the stack: local-<dir name>, so two stacks on one machine never
# touch each other's containers), mcloud-orchestrator and the edge. They are
# host daemons like the others; the services themselves are the containers
# `mcloud deploy` of `platform spec` places. `platform down` stops the
# orchestrator first (no new orders), then the agent, removes the node's
# containers (label mcloud.node), then the edge and the podman service.
PLATFORM=(podman agent orchestrator edge)
INSTANCE_PORTS_FROM=${MCLOUD_INSTANCE_PORTS_FROM:-18400}

platform_node() {
  local n
  n=$(basename "$STACK_REAL" | tr 'A-Z_.' 'a-z--' | tr -cd 'a-z0-9-')
  echo "${MCLOUD_AGENT_NODE:-local-${n:-stack}}"
}

podman_sock()   { echo "$(realpath -m "$(cdir podman)")/podman.sock"; }
podman_addr()   { podman_sock; }
podman_ready()  { curl -fsS -o /dev/null --max-time 2 --unix-socket "$(podman_sock)" http://d/_ping; }
podman_skip() {
  have podman && return 1
  log "podman: not installed (scripts/bootstrap.sh podman), skipping it"
  return 0
}
podman_launch() {
  rm -f "$(podman_sock)"
  spawn podman "$(cdir podman)" podman system service --time=0 "unix://$(podman_sock)"
}

agent_bin()   { echo "$MCLOUD_BUILD_DIR/orchestrator/agent/mcloud-agent"; }
agent_port()  { echo "${MCLOUD_AGENT_PORT:-18090}"; }
agent_addr()  { echo "$MCLOUD_BIND:$(agent_port)"; }
agent_ready() { curl -fsS -o /dev/null --max-time 2 "http://$(agent_addr)/readyz"; }
agent_skip() {
  [[ -x $(agent_bin) ]] && return 1
  log "agent: $(agent_bin) is not built (cmake --build build), skipping it"
  return 0
}
agent_launch() {
  local -a vars
  mapfile -t vars < <(client_env)
  mkdir -p "$(cdir agent)/state"
  spawn agent "$(cdir agent)" env "${vars[@]}" MCLOUD_HTTP_BIND="$MCLOUD_BIND" MCLOUD_AGENT_PORT="$(agent_port)" \
    MCLOUD_AGENT_NODE="$(platform_node)" MCLOUD_AGENT_ENGINE_SOCKET="$(podman_sock)" \
    MCLOUD_AGENT_STATE_DIR="$(realpath -m "$(cdir agent)/state")" "$(agent_bin)"
}

orchestrator_bin()   { echo "$MCLOUD_BUILD_DIR/orchestrator/mcloud-orchestrator"; }
orchestrator_port()  { echo "${MCLOUD_ORCHESTRATOR_PORT:-18084}"; }
orchestrator_addr()  { echo "$MCLOUD_BIND:$(orchestrator_port)"; }
orchestrator_ready() { curl -fsS -o /dev/null --max-time 2 "http://$(orchestrator_addr)/readyz"; }
orchestrator_skip() {
  [[ -x $(orchestrator_bin) ]] && return 1
  log "orchestrator: $(orchestrator_bin) is not built (cmake --build build), skipping it"
  return 0
}
orchestrator_launch() {
  local -a vars
  mapfile -t vars < <(client_env)
  spawn orchestrator "$(cdir orchestrator)" env "${vars[@]}" MCLOUD_HTTP_BIND="$MCLOUD_BIND" \
    MCLOUD_ORCHESTRATOR_PORT="$(orchestrator_port)" "$(orchestrator_bin)"
}
# the orchestrator's start ran the migrations: the local tenant's API key
# can be made now, before mcloud-api's containers answer
orchestrator_setup() { mkdir -p "$(cdir api)"; api_setup; }
orchestrator_env() {
  local token_bin=$MCLOUD_BUILD_DIR/upload/mcloud-token
  echo "export MCLOUD_ORCHESTRATOR_URL='http://$(orchestrator_addr)'"
  [[ -x $token_bin ]] || return 0
  echo "export MCLOUD_OPERATOR_TOKEN='$("$token_bin" --tenant local --scope operator --ttl $((86400 * 30)))'"
}

# platform_containers: names of the containers this stack's node runs
platform_containers() {
  have podman || return 0
  podman ps -a --filter "label=mcloud.managed=true" --filter "label=mcloud.node=$(platform_node)" \
    --format '{{.Names}}' 2>/dev/null || true
}
platform_remove_containers() {
  local -a names
  mapfile -t names < <(platform_containers)
  [[ ${#names[@]} -gt 0 ]] || return 0
  log "platform: removing ${#names[@]} containers of node $(platform_node): ${names[*]}"
  podman rm -f -t 10 "${names[@]}" >/dev/null 2>&1 || true
  mapfile -t names < <(platform_containers)
  [[ ${#names[@]} -eq 0 ]] || warn "platform: containers left: ${names[*]}"
}

# platform_ports: the spec's instance_ports block, FIRST-LAST (400 ports:
# 100 per service). MCLOUD_INSTANCE_PORTS if set; else the block chosen at
# the first `spec` (kept in $MCLOUD_STACK/platform/instance_ports: the
# containers listen there); else the first block from
# MCLOUD_INSTANCE_PORTS_FROM (18400) on where nothing listens.
platform_ports() {
  local file first listening p
  file=$(cdir platform)/instance_ports
  if [[ -n ${MCLOUD_INSTANCE_PORTS:-} ]]; then echo "$MCLOUD_INSTANCE_PORTS"; return; fi
  if [[ -s $file ]]; then cat "$file"; return; fi
  listening=$(ss -Htln 2>/dev/null | awk '{n = split($4, a, ":"); print a[n]}' | sort -un)
  for ((first = INSTANCE_PORTS_FROM; first + 399 < 32768; first += 400)); do
    p=$(awk -v a="$first" -v b=$((first + 399)) '$1 >= a && $1 <= b' <<<"$listening" | head -1)
    if [[ -z $p ]]; then
      mkdir -p "$(cdir platform)"
      echo "$first-$((first + 399))" | tee "$file"
      return
    fi
  done
  die "platform: no free block of 400 ports from $INSTANCE_PORTS_FROM below 32768 (set MCLOUD_INSTANCE_PORTS=FIRST-LAST)"
}

# platform_spec: deploy/mcloud.yaml made concrete for this stack: the images
# of this tree (scripts/images.sh --tag), its instance ports, the edge's
# public ports, per-node volume names, and each service's env: what it needs
# of the stack (the client settings without MCLOUD_HOME: the image has its
# own) and the public URLs, which are the edge's.
platform_spec() {
  local root tag ports edge_up edge_st edge_api line svc env api_env= scale
  root=$(realpath -m "$(dirname "${BASH_SOURCE[0]}")/..")
  tag=$("$MCLOUD_SCRIPTS/images.sh" --tag)
  ports=$(platform_ports)
  edge_up="http://$MCLOUD_BIND:$MCLOUD_PORT_EDGE_UPLOAD" edge_st="http://$MCLOUD_BIND:$MCLOUD_PORT_EDGE_STREAM"
  edge_api="http://$MCLOUD_BIND:$MCLOUD_PORT_EDGE_API"
  env="MCLOUD_HTTP_BIND: \"$MCLOUD_BIND\""
  while IFS= read -r line; do
    [[ $line == MCLOUD_HOME=* ]] && continue
    env+=", ${line%%=*}: \"${line#*=}\""
  done < <(client_env)
  for line in "${API_WEBHOOK_ENV[@]}"; do api_env+=", ${line%%=*}: \"${line#*=}\""; done
  env+=", MCLOUD_UPLOAD_PUBLIC_URL: \"$edge_up\", MCLOUD_STREAM_PUBLIC_URL: \"$edge_st\", MCLOUD_API_PUBLIC_URL: \"$edge_api\""
  # CPUs: a node smaller than the spec's total reservation (count x cpus)
  # gets every service's share scaled down in proportion, so all of it fits
  scale=$(awk -v n="$(nproc)" '
    function flush() { t += c * v; c = 1; v = 0 }
    /^  [a-z0-9-]+: *$/ { flush() }
    /^    count: *[0-9]+/ { c = $2 }
    /cpus: *[0-9.]+/ { match($0, /cpus: *[0-9.]+/); v = substr($0, RSTART + 5, RLENGTH - 5) + 0 }
    END { flush(); printf "%.4f", (t > n) ? n / t : 1 }' "$root/deploy/mcloud.yaml")
  echo "# made by scripts/stack.sh platform spec from deploy/mcloud.yaml for $MCLOUD_STACK"
  [[ $scale == 1.0000 ]] || echo "# CPUs scaled by $scale: the spec reserves more than this node's $(nproc)"
  while IFS= read -r line; do
    if [[ $line =~ ^instance_ports: ]]; then line="instance_ports: $ports"; fi
    if [[ $line =~ ^\ \ ([a-z0-9-]+):\ *$ ]]; then svc=${BASH_REMATCH[1]}; fi
    if [[ $line =~ ^(\ +image:\ *localhost/mcloud-[a-z0-9-]+):latest$ ]]; then line="${BASH_REMATCH[1]}:$tag"; fi
    if [[ $line =~ public:\ *[0-9]+ ]]; then
      case $svc in
        upload) line=${line/${BASH_REMATCH[0]}/public: $MCLOUD_PORT_EDGE_UPLOAD} ;;
        stream) line=${line/${BASH_REMATCH[0]}/public: $MCLOUD_PORT_EDGE_STREAM} ;;
        api)    line=${line/${BASH_REMATCH[0]}/public: $MCLOUD_PORT_EDGE_API} ;;
      esac
    fi
    if [[ $scale != 1.0000 && $line =~ cpus:\ *([0-9.]+) ]]; then
      line=${line/${BASH_REMATCH[0]}/cpus: $(awk -v x="${BASH_REMATCH[1]}" -v f="$scale" 'BEGIN { printf "%.2f", int(x * f * 100) / 100 }')}
    fi
    if [[ $line =~ (volume:.*name:\ *)([a-z0-9-]+) ]]; then
      line=${line/${BASH_REMATCH[0]}/${BASH_REMATCH[1]}${BASH_REMATCH[2]}-$(platform_node)}
    fi
    [[ $line =~ ^\ +env: ]] && die "platform spec: deploy/mcloud.yaml sets services.$svc.env; the local stack writes it (put it in $0's platform_spec)"
    echo "$line"
    if [[ $line =~ ^\ +image: ]]; then
      if [[ $svc == api ]]; then echo "    env: {$env$api_env}"; else echo "    env: {$env}"; fi
    fi
  done <"$root/deploy/mcloud.yaml"
}

cmd_platform() {
  local c
  case ${1:-} in
    up)     with_lock
            sentinels_check
            for c in "${PLATFORM[@]}"; do launch "$c"; await "$c"; done
            log "platform: node $(platform_node) (agent http://$(agent_addr)), orchestrator http://$(orchestrator_addr), edge: upload http://$MCLOUD_BIND:$MCLOUD_PORT_EDGE_UPLOAD stream http://$MCLOUD_BIND:$MCLOUD_PORT_EDGE_STREAM api http://$MCLOUD_BIND:$MCLOUD_PORT_EDGE_API" ;;
    down)   with_lock; platform_down ;;
    status) local rc=0
            cmd_status_of "${PLATFORM[@]}" || rc=$?
            printf '%-14s %s\n' containers "$(platform_containers | tr '\n' ' ')"
            return $rc ;;
    env)    for c in "${PLATFORM[@]}"; do if has_fn "$c" env && comp_pid "$c" >/dev/null; then call "$c" env; fi; done ;;
    spec)   platform_spec ;;
    *)      die "usage: stack.sh platform up|down|status|env|spec" ;;
  esac
}
platform_down() {
  terminate orchestrator
  terminate agent
  platform_remove_containers
  terminate edge podman
}

# A MariaDB server stopped through this script is in maintenance: the
# monitor does not fail over while it is down (a SIGKILL is a failure, a
# `stack.sh stop` is not). Starting it ends the maintenance.
maintenance() { # maintenance on|off COMPONENT...
  local mode=$1 c addr
  shift
  redis_cli ping >/dev/null 2>&1 || return 0
  for c in "$@"; do
    [[ $c == mysql-* ]] || continue
    addr=$(call "$c" addr)
    if [[ $mode == on ]]; then redis_cli SET "mcloud:dbmon:maintenance:$addr" stack.sh EX 3600 >/dev/null || true
    else redis_cli DEL "mcloud:dbmon:maintenance:$addr" >/dev/null || true
    fi
  done
}

# ============================================================================
# env
# ============================================================================
# client_env: NAME=VALUE lines every client and daemon of the stack reads.
# MCLOUD_MYSQL_MASTER / _REPLICA are the config service's current values
# (they move on failover): the daemons take them from the config service,
# which beats the environment for these managed settings (config.h), so
# these lines only bootstrap and serve test tools that talk SQL directly.
mysql_published() { # mysql_published NAME DEFAULT
  local v=
  v=$(redis_cli --raw GET "mcloud:config:$1" 2>/dev/null)
  echo "${v:-$2}"
}
client_env() {
  cat <<EOF
MCLOUD_HOME=$MCLOUD_HOME
MCLOUD_MYSQL_MASTER=$(mysql_published mysql.master "$(mysql_master_addr)")
MCLOUD_MYSQL_REPLICA=$(mysql_published mysql.replica "$(mysql_replica_addr)")
MCLOUD_MYSQL_USER=$MCLOUD_MYSQL_USER
MCLOUD_MYSQL_PASSWORD=$MCLOUD_MYSQL_PASSWORD
MCLOUD_MYSQL_DATABASE=$MCLOUD_MYSQL_DATABASE
MCLOUD_REDIS=$(sentinel_spec)
MCLOUD_KAFKA=$(kafka_addr)
MCLOUD_S3_ENDPOINT=http://$(s3_addr)
MCLOUD_S3_REGION=$MCLOUD_S3_REGION
MCLOUD_S3_BUCKET=$MCLOUD_S3_BUCKET
MCLOUD_S3_ACCESS_KEY=$MCLOUD_S3_ACCESS_KEY
MCLOUD_S3_SECRET_KEY=$MCLOUD_S3_SECRET_KEY
EOF
}

# env_last: each variable once, where it first appears, with its last value
# (with the edge up, its URLs come after the daemons' own and win)
env_last() {
  awk '{ k = $2; sub(/=.*/, "", k); if (!(k in v)) o[++n] = k; v[k] = $0 }
       END { for (i = 1; i <= n; i++) print v[o[i]] }'
}

print_env() {
  local line c
  while IFS= read -r line; do
    # tools get the current Redis master as host:port; the daemons stack.sh
    # starts get the Sentinel address and follow a failover
    [[ $line == MCLOUD_REDIS=* ]] && line="MCLOUD_REDIS=$MCLOUD_BIND:$(redis_master_port)"
    printf "export %s='%s'\n" "${line%%=*}" "${line#*=}"
  done < <(client_env)
  echo "export MCLOUD_REDIS_SENTINEL='$(sentinel_spec)'"
  cat <<EOF
export MCLOUD_MYSQL_ADMIN_USER='$MCLOUD_MYSQL_ADMIN_USER'
export MCLOUD_MYSQL_ADMIN_PASSWORD='$MCLOUD_MYSQL_ADMIN_PASSWORD'
EOF
  for c in "${COMPONENTS[@]}"; do
    if has_fn "$c" env; then call "$c" env; fi
  done
  # with the edge running, clients reach the public services through it
  # (these lines come last: they win over the daemons' own addresses)
  cmd_platform env
}

# ============================================================================
# commands
# ============================================================================
check_components() {
  local c
  [[ $# -gt 0 ]] || die "name a component: ${COMPONENTS[*]}"
  for c in "$@"; do is_component "$c" || die "unknown component '$c' (${COMPONENTS[*]})"; done
}

cmd_up() {
  local t0=$SECONDS c only_backing=0
  local -a backing=() daemons=()
  case ${1:-} in --backing) only_backing=1 ;; '') ;; *) die "usage: stack.sh up [--backing]" ;; esac
  with_lock
  for c in "${COMPONENTS[@]}"; do
    if has_fn "$c" bin; then daemons+=("$c"); else backing+=("$c"); fi
  done
  # The backing servers start in parallel, then are awaited in order (the
  # replica's first setup needs the master up); the mcloud daemons only once
  # every server answers and is set up (users, topics, bucket): on a fresh
  # state directory a daemon started earlier finds no MySQL user and exits.
  for c in "${backing[@]}"; do launch "$c"; done
  for c in "${backing[@]}"; do await "$c"; done
  [[ $only_backing == 1 ]] && daemons=()
  for c in "${daemons[@]}"; do launch "$c"; done
  for c in "${daemons[@]}"; do await "$c"; done
  sentinels_check
  log "stack up in $(elapsed "$t0") (state: $MCLOUD_STACK)"
}

cmd_start() {
  check_components "$@"
  with_lock
  local c
  for c in "$@"; do launch "$c"; done
  for c in "$@"; do await "$c"; done
  maintenance off "$@"
}

cmd_stop() {
  check_components "$@"
  with_lock
  maintenance on "$@"
  terminate "$@"
}

cmd_down() {
  local purge=0
  case ${1:-} in --purge) purge=1 ;; '') ;; *) die "usage: stack.sh down [--purge]" ;; esac
  with_lock
  platform_down
  terminate "${COMPONENTS[@]}"
  sweep
  if [[ $purge -eq 1 ]]; then
    [[ -n $MCLOUD_STACK && $MCLOUD_STACK != / && -d $MCLOUD_STACK ]] || die "refusing to purge '$MCLOUD_STACK'"
    log "purging $MCLOUD_STACK"
    find "$MCLOUD_STACK" -mindepth 1 -maxdepth 1 ! -name .lock -exec rm -rf {} +
  fi
  log "stack down"
}

cmd_status() {
  [[ $# -eq 0 ]] || check_components "$@"
  cmd_status_of "${@:-${COMPONENTS[@]}}"
}

cmd_status_of() {
  local c pid state rc=0
  for c in "$@"; do
    if pid=$(comp_pid "$c"); then
      if call "$c" ready 2>/dev/null; then state=up; else state=starting; rc=3; fi
      printf '%-14s %-8s %-16s pid %s\n' "$c" "$state" "$(call "$c" addr)" "$pid"
    else
      printf '%-14s %-8s %-16s\n' "$c" down "$(call "$c" addr)"
      rc=3
    fi
  done
  return $rc
}

cmd_peers() { # the per-link loopback addresses a network fault matches on
  local srv m
  for srv in master replica replica2; do
    printf 'mysql-%-9s %-16s peer %s\n' "$srv" "$(mysql_server_addr "$srv")" "$(mysql_peer_host "$srv")"
  done
  for m in dbmon dbmon2; do printf '%-15s %-16s source %s\n' "$m" "$(call "$m" addr)" "$(dbmon_source_host "$m")"; done
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
    up)      cmd_up "$@" ;;
    down)    cmd_down "$@" ;;
    reset)   cmd_down --purge ;;
    status)  cmd_status "$@" ;;
    start)   cmd_start "$@" ;;
    stop)    cmd_stop "$@" ;;
    restart) cmd_stop "$@"; cmd_start "$@" ;;
    env)     print_env | env_last ;;
    promote) [[ $# == 1 && ($1 == redis || $1 == redis-replica) ]] || die "usage: stack.sh promote redis|redis-replica"
             with_lock; redis_promote "$1" ;;
    logs)    [[ " ${PLATFORM[*]} " == *" ${1:-} "* ]] || check_components "$@"; logfile "$1" ;;
    edge)    cmd_edge "$@" ;;
    peers)   cmd_peers ;;
    platform) cmd_platform "$@" ;;
    *)       sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
  esac
}

main "$@"
