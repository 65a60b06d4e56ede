#!/usr/bin/env bash
# MariaDB failover by mcloud-dbmon on the stack's real servers (two monitor
# instances, one active through the Redis lock):
#  1. the master SIGKILLed under a steady write load (mcloud-dbload, through
#     common/mysql following the config service): a replica is promoted,
#     writes succeed on it, and every insert the server acknowledged is
#     there (zero acknowledged transactions lost); the time writes were
#     unavailable is printed, not asserted;
#  2. the old master, restarted by stack.sh, comes back read-only and
#     replicating from the new master;
#  3. a monitor-side blip (new connections to the master dropped by iptables:
#     the replicas' established links are untouched) and a SIGSTOPped active
#     monitor cause no failover;
#  4. `mcloud db switchover` back to the original master under load loses
#     no acknowledged write (and restores the stack's layout);
#  5. with every replica stopped the master acknowledges nothing (writes wait
#     rather than fall back to async); SIGKILLed then and restarted with its
#     replicas, every write acknowledged before is still there;
#  6. a mysql.master value lost by Redis (naming a server that is down) is
#     replaced by the server acting as master.
# Whatever happens, the iptables rule is removed, the processes started here
# are stopped, and the original master is put back.
# Usage: failover.sh BUILD_DIR   (after: eval "$(scripts/stack.sh env)")
set -uo pipefail
build=${1:?usage: failover.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
stack="$here/../../../scripts/stack.sh"
dbmon=$build/dbmon/mcloud-dbmon dbload=$build/tests/mcloud-dbload mcloud=$build/cli/mcloud
work=$(mktemp -d)
passed=0 failed=0
ok()   { echo "ok   - $*"; passed=$((passed + 1)); }
fail() { echo "FAIL - $*"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }
die()  { fail "$*"; exit 1; }

for v in MCLOUD_REDIS MCLOUD_MYSQL_ADMIN_USER MCLOUD_MYSQL_ADMIN_PASSWORD MCLOUD_DBMON_SERVERS MCLOUD_DBMON_PEER_HOSTS; do
    [ -n "${!v:-}" ] || die "$v is not set: eval \"\$(scripts/stack.sh env)\""
done
[ -x "$dbmon" ] && [ -x "$dbload" ] && [ -x "$mcloud" ] || die "build first: cmake --build $build ($dbmon, $dbload, $mcloud)"
command -v iptables >/dev/null || die "iptables missing (apt-get install iptables)"

# the stack's MariaDB servers: component -> address
declare -A comp_of
servers=()
while read -r name _ addr _; do
    comp_of[$addr]=$name; servers+=("$addr")
done < <("$stack" status mysql-master mysql-replica mysql-replica2 2>/dev/null)
[ ${#servers[@]} = 3 ] || die "stack.sh status lists no three MariaDB servers"
# the monitors get the stack's servers and peer hosts (stack.sh env), as the
# stack's own monitors do: replication through a peer host is from the master
[ "$MCLOUD_DBMON_SERVERS" = "$(IFS=,; echo "${servers[*]}")" ] \
    || die "MCLOUD_DBMON_SERVERS=$MCLOUD_DBMON_SERVERS is not this stack's servers (${servers[*]}): eval \"\$(scripts/stack.sh env)\""
redis() { redis-cli -h "${MCLOUD_REDIS%:*}" -p "${MCLOUD_REDIS##*:}" --raw "$@"; }
published() { redis GET mcloud:config:mysql.master; }
sql() { # sql ADDR STATEMENT
    mariadb --no-defaults -h "${1%:*}" -P "${1##*:}" -u "$MCLOUD_MYSQL_ADMIN_USER" -p"$MCLOUD_MYSQL_ADMIN_PASSWORD" \
        -N -B -e "$2"
}
slave_field() { # slave_field ADDR FIELD
    mariadb --no-defaults -h "${1%:*}" -P "${1##*:}" -u "$MCLOUD_MYSQL_ADMIN_USER" -p"$MCLOUD_MYSQL_ADMIN_PASSWORD" \
        -e 'SHOW SLAVE STATUS\G' 2>/dev/null | sed -n "s/^ *$2: //p"
}
original=$(published)
[ -n "$original" ] && [ -n "${comp_of[$original]:-}" ] || die "published master '$original' is not a stack server"
for s in "${servers[@]}"; do
    [ "$s" = "$original" ] && continue
    [ "$(slave_field "$s" Slave_IO_Running)" = Yes ] || die "precondition: $s does not replicate (stack.sh up)"
done

# the stack's own monitors stop while this test runs its two (put back after)
stack_monitors=()
for c in dbmon dbmon2; do
    "$stack" status "$c" >/dev/null 2>&1 && stack_monitors+=("$c")
done
[ ${#stack_monitors[@]} = 0 ] || "$stack" stop "${stack_monitors[@]}" >/dev/null 2>&1

# ---- processes started here, and the clean-up that stops them -------------
port0=${MCLOUD_DBMON_TEST_PORT:-18186}
mon_pids=() load_pid= rule=
export MCLOUD_DBMON_DEAD_AFTER_MS=2000 MCLOUD_DBMON_INTERVAL_MS=300 MCLOUD_DBMON_LOCK_TTL_MS=2000
start_monitor() { # start_monitor N
    MCLOUD_DBMON_PORT=$((port0 + $1)) "$dbmon" >>"$work/mon$1.log" 2>&1 &
    mon_pids[$1]=$!
}
start_load() {
    MCLOUD_MYSQL_DATABASE=mcloud_hatest "$dbload" 4 >"$work/acked" 2>"$work/load.log" &
    load_pid=$!
}
stop_load() { [ -n "$load_pid" ] && kill -TERM "$load_pid" 2>/dev/null && wait "$load_pid"; load_pid=; }
acks() { wc -l <"$work/acked"; }
wait_acks() { # wait_acks N SECONDS: until N more acks arrived
    local want=$(( $(acks) + $1 )) i
    for ((i = 0; i < $2 * 10; i++)); do [ "$(acks)" -ge "$want" ] && return 0; sleep 0.1; done
    return 1
}
cleanup() {
    local i cur
    [ -n "$rule" ] && while iptables -D INPUT $rule 2>/dev/null; do :; done
    for i in "${!mon_pids[@]}"; do kill -CONT "${mon_pids[$i]}" 2>/dev/null; done
    stop_load
    for s in "${servers[@]}"; do # a killed server comes back (as what the config service says)
        "$stack" status "${comp_of[$s]}" >/dev/null 2>&1 || "$stack" start "${comp_of[$s]}" >/dev/null 2>&1
    done
    cur=$(published)
    if [ -n "$cur" ] && [ "$cur" != "$original" ] && [ ${#mon_pids[@]} -gt 0 ]; then
        echo "# restoring $original as the master"
        timeout 90 "$mcloud" db switchover "$original" || echo "# WARNING: could not restore $original"
    fi
    for i in "${!mon_pids[@]}"; do kill -TERM "${mon_pids[$i]}" 2>/dev/null; wait "${mon_pids[$i]}" 2>/dev/null; done
    [ ${#stack_monitors[@]} = 0 ] || "$stack" start "${stack_monitors[@]}" >/dev/null 2>&1 \
        || echo "# WARNING: could not start ${stack_monitors[*]} again"
    if [ "$failed" != 0 ]; then
        for f in "$work"/*.log; do echo "----- $f"; tail -n 30 "$f"; done
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# every acknowledged id is in the table on the current master
check_acked() { # check_acked WHAT
    local master=$1 missing n
    awk '$1 == "ack" {print $2}' "$work/acked" | sort >"$work/want"   # comm wants lexical order
    sql "$master" "SELECT id FROM mcloud_hatest.acked" | sort >"$work/have"
    n=$(wc -l <"$work/want")
    missing=$(comm -23 "$work/want" "$work/have" | wc -l)
    check "$2: all $n acknowledged inserts are on $master ($missing missing)" [ "$missing" = 0 ]
}
max_gap_ms() { awk '$1 == "ack" {if (prev != "" && $3 - prev > g) g = $3 - prev; prev = $3} END {print g + 0}' "$work/acked"; }
reset_table() {
    sql "$(published)" "CREATE DATABASE IF NOT EXISTS mcloud_hatest;
        CREATE TABLE IF NOT EXISTS mcloud_hatest.acked (id BIGINT PRIMARY KEY,
            at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)); TRUNCATE mcloud_hatest.acked" \
        || die "cannot create mcloud_hatest.acked on $(published)"
}

start_monitor 0
start_monitor 1
for i in $(seq 1 50); do grep -qs '"dbmon: active"' "$work"/mon*.log && break; sleep 0.1; done
check "one of two monitors is active" [ "$(grep -l '"dbmon: active"' "$work"/mon*.log | wc -l)" = 1 ]

# ---- 1. master SIGKILLed under load ------------------------------------------
reset_table
start_load
wait_acks 50 30 || die "the load acknowledged no writes (see load.log)"
old=$original
pid=$("$stack" status "${comp_of[$old]}" | awk '$2 == "up" {print $5}')
[ -n "$pid" ] || die "${comp_of[$old]} is not running"
echo "# SIGKILL mariadbd $pid (${comp_of[$old]}, $old) at $(acks) acks; load average $(cut -d' ' -f1-3 /proc/loadavg)"
kill -KILL "$pid"
t_kill=$(date +%s%3N)
new=
for i in $(seq 1 600); do
    new=$(published); [ "$new" != "$old" ] && break; sleep 0.1
done
t_pub=$(date +%s%3N)
check "a replica was promoted and published (mysql.master: $old -> $new)" [ "$new" != "$old" ]
check "writes succeed again on the new master" wait_acks 50 30
stop_load
check_acked "$new" "failover"
check "the new master is writable" [ "$(sql "$new" 'SELECT @@read_only')" = 0 ]
echo "# recovery: published $((t_pub - t_kill)) ms after the SIGKILL; longest write gap $(max_gap_ms) ms;" \
     "failover itself $(grep -ho '"failover_ms":"[0-9]*"' "$work"/mon*.log | head -1 | tr -dc 0-9) ms;" \
     "load average $(cut -d' ' -f1-3 /proc/loadavg)"
for s in "${servers[@]}"; do
    [ "$s" = "$old" ] || [ "$s" = "$new" ] && continue
    other=$s
done
for i in $(seq 1 50); do [ "$(slave_field "$other" Master_Port)" = "${new##*:}" ] && break; sleep 0.2; done
check "the other replica ($other) replicates from the new master" [ "$(slave_field "$other" Master_Port)" = "${new##*:}" ]

# ---- 2. the old master rejoins ------------------------------------------------
"$stack" start "${comp_of[$old]}" >"$work/restart.log" 2>&1
check "restarted old master is read-only" [ "$(sql "$old" 'SELECT @@read_only')" = 1 ]
replicating() { [ "$(slave_field "$1" Slave_IO_Running)/$(slave_field "$1" Master_Port)" = "Yes/$2" ]; }
for i in $(seq 1 100); do replicating "$old" "${new##*:}" && break; sleep 0.2; done
check "restarted old master replicates from the new master" replicating "$old" "${new##*:}"

# ---- 3. no failover on a monitor-side blip or a stopped monitor -----------------
rule="-p tcp --dport ${new##*:} --syn -j DROP"
before=$(grep -c '"state":"suspect"' "$work"/mon*.log | awk -F: '{s += $2} END {print s}')
iptables -I INPUT $rule || die "iptables -I INPUT $rule failed"
sleep 7
after=$(grep -c '"state":"suspect"' "$work"/mon*.log | awk -F: '{s += $2} END {print s}')
while iptables -D INPUT $rule 2>/dev/null; do :; done
rule=
check "blip: the monitor saw the master unreachable (precondition)" [ "$after" -gt "$before" ]
check "blip: no failover while the replicas still saw the master" [ "$(published)" = "$new" ]
active=$(grep -l '"dbmon: active"' "$work"/mon*.log | head -1); active=${active##*/mon}; active=${active%.log}
standby=$((1 - active))
kill -STOP "${mon_pids[$active]}"
for i in $(seq 1 100); do grep -qs '"dbmon: active"' "$work/mon$standby.log" && break; sleep 0.1; done
check "stopped monitor: the standby took over the lock" grep -qs '"dbmon: active"' "$work/mon$standby.log"
sleep 1
kill -CONT "${mon_pids[$active]}"
for i in $(seq 1 50); do grep -qs 'lost the lock' "$work/mon$active.log" && break; sleep 0.1; done
check "resumed monitor stands by (lost the lock)" grep -qs 'lost the lock' "$work/mon$active.log"
check "stopped monitor: no failover" [ "$(published)" = "$new" ]

# ---- 4. switchover back under load ------------------------------------------------
reset_table
start_load
wait_acks 50 30 || fail "the load acknowledged no writes before the switchover"
echo "# switchover to $original; load average $(cut -d' ' -f1-3 /proc/loadavg)"
check "mcloud db switchover $original" "$mcloud" db switchover "$original"
check "switchover: $original is the published master" [ "$(published)" = "$original" ]
check "writes succeed after the switchover" wait_acks 50 30
stop_load
check_acked "$original" "switchover"
echo "# switchover: longest write gap $(max_gap_ms) ms;" \
     "switchover itself $(grep -ho '"switchover_ms":"[0-9]*"' "$work"/mon*.log | tail -1 | tr -dc 0-9) ms;" \
     "load average $(cut -d' ' -f1-3 /proc/loadavg)"
check "the old master ($new) is read-only after the switchover" [ "$(sql "$new" 'SELECT @@read_only')" = 1 ]

# ---- 5. every replica down, then the master killed: nothing acknowledged is lost
# The safe default (no fallback to async): with no replica to ack, the master
# acknowledges nothing; killed then, it loses nothing anyone was told.
replicas=()
for s in "${servers[@]}"; do [ "$s" = "$original" ] || replicas+=("${comp_of[$s]}"); done
reset_table
start_load
wait_acks 20 30 || fail "the load acknowledged no writes before the replicas stopped"
"$stack" stop "${replicas[@]}" >/dev/null 2>&1
n0=$(acks)
sleep 4
check "replicas down: the master acknowledged no write in 4 s (writes wait; $(( $(acks) - n0 )) acks)" \
    [ "$(acks)" = "$n0" ]
pid=$("$stack" status "${comp_of[$original]}" | awk '$2 == "up" {print $5}')
kill -KILL "$pid"
sleep 1
check "no failover without a replica to promote" [ "$(published)" = "$original" ]
"$stack" start "${comp_of[$original]}" >>"$work/restart.log" 2>&1
"$stack" start "${replicas[@]}" >>"$work/restart.log" 2>&1
check "writes succeed once the replicas are back" wait_acks 20 60
stop_load
check_acked "$original" "replicas down, master killed"

# ---- 6. a lost mysql.master write is re-announced ---------------------------
# A Redis failover may lose the last write (asynchronous replication): the
# config service then names a server that is down while another acts as the
# master; the monitor publishes the acting one again.
lost=${servers[0]}; [ "$lost" = "$original" ] && lost=${servers[1]}
"$stack" stop "${comp_of[$lost]}" >/dev/null 2>&1
redis EVAL "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('PUBLISH', KEYS[2], 'mysql.master')" \
    2 mcloud:config:mysql.master mcloud:config:changed "$lost" >/dev/null
for _ in $(seq 1 100); do [ "$(published)" = "$original" ] && break; sleep 0.2; done
check "a stale mysql.master ($lost, down) is replaced by the acting master $original" [ "$(published)" = "$original" ]
"$stack" start "${comp_of[$lost]}" >>"$work/restart.log" 2>&1

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
