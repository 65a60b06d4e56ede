#!/usr/bin/env bash
# Redis master SIGKILLed: the Sentinels of scripts/stack.sh promote the
# replica, and the stack's daemons, which reach Redis through Sentinel
# (sentinel://...), keep working with no restart: `mcloud upload` (through
# mcloud-api, then mcloud-upload) succeeds
# after the failover (upload locks and state, API rate limits live in Redis). The times
# (kill -> Sentinel switched, kill -> an upload succeeded) are printed, not
# asserted. The killed server is restarted (it comes back as a replica) and
# the original master is put back with SENTINEL FAILOVER, whatever happens.
# Usage: redis_failover.sh BUILD_DIR   (after: eval "$(scripts/stack.sh env)")
set -uo pipefail
build=${1:?usage: redis_failover.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
stack="$here/../../scripts/stack.sh"
mcloud=$build/cli/mcloud
passed=0 failed=0
ok()   { echo "ok   - $*"; passed=$((passed + 1)); }
fail() { echo "FAIL - $*"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }
die()  { fail "$*"; exit 1; }
for v in MCLOUD_REDIS_SENTINEL MCLOUD_API_URL MCLOUD_API_KEY; do  # mcloud upload: mcloud-api, then mcloud-upload
    [ -n "${!v:-}" ] || die "$v is not set: eval \"\$(scripts/stack.sh env)\" (with redis sentinels and upload up)"
done
[ -x "$mcloud" ] || die "$mcloud is not built"
sentinels=${MCLOUD_REDIS_SENTINEL#*@}
s1=${sentinels%%,*}
sentinel() { redis-cli -h "${s1%:*}" -p "${s1##*:}" --raw "$@"; }
master() { sentinel SENTINEL get-master-addr-by-name mcloud | paste -sd: -; }
comp_at() { "$stack" status 2>/dev/null | awk -v a="$1" '$3 == a {print $1}'; }

original=$(master)
[ -n "$original" ] || die "no Sentinel names a master"
replica=$(sentinel SENTINEL replicas mcloud | awk 'prev == "name" {print; exit} {prev = $0}')
[ -n "$replica" ] || die "precondition: the master has no replica"
for _ in $(seq 1 100); do # a previous failover may still be settling
    link=$(redis-cli -h "${replica%:*}" -p "${replica##*:}" INFO replication | tr -d '\r' | sed -n 's/^master_link_status://p')
    [ "$link" = up ] && break; sleep 0.2
done
[ "$link" = up ] || die "precondition: replica $replica link is '$link'"
comp=$(comp_at "$original")
[ -n "$comp" ] || die "no stack component at $original"
tmp=$(mktemp -d)
# The command line remembers upload URLs under $MCLOUD_HOME: a scratch one.
# stack.sh keeps finding the stack's own state (and cache) where it was.
home=${MCLOUD_HOME:-${HOME:-/root}/.mcloud}
export MCLOUD_STACK=${MCLOUD_STACK:-$home/stack} MCLOUD_CACHE=${MCLOUD_CACHE:-$home/cache}
export MCLOUD_HOME=$tmp
head -c $((1024 * 1024)) /dev/urandom >"$tmp/a.bin"
cleanup() {
    local c
    for c in redis redis-replica; do
        "$stack" status "$c" >/dev/null 2>&1 || "$stack" start "$c" >/dev/null 2>&1
    done
    [ "$(master)" = "$original" ] || "$stack" promote "$comp" 2>/dev/null \
        || echo "# WARNING: could not make $original the Redis master again"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

check "an upload before the failover" "$mcloud" upload "$tmp/a.bin" >/dev/null 2>"$tmp/err"
pid=$("$stack" status "$comp" | awk '$2 == "up" {print $5}')
[ -n "$pid" ] || die "no running stack component at $original"
echo "# SIGKILL redis-server $pid ($comp, $original); load average $(cut -d' ' -f1-3 /proc/loadavg)"
t0=$(date +%s%3N)
kill -KILL "$pid"
for _ in $(seq 1 600); do [ "$(master)" != "$original" ] && break; sleep 0.1; done
t_switch=$(date +%s%3N)
check "Sentinel promoted the replica ($original -> $(master))" [ "$(master)" = "$replica" ]
done_ok=0
for _ in $(seq 1 120); do
    head -c $((1024 * 1024)) /dev/urandom >"$tmp/b.bin"
    if "$mcloud" upload "$tmp/b.bin" >/dev/null 2>"$tmp/err"; then done_ok=1; break; fi
    sleep 0.5
done
t_upload=$(date +%s%3N)
check "mcloud-upload (not restarted) takes an upload after the failover" [ $done_ok = 1 ]
echo "# recovery: Sentinel switched $((t_switch - t0)) ms after the SIGKILL (down-after ${MCLOUD_REDIS_DOWN_AFTER_MS:-5000} ms);" \
     "an upload succeeded $((t_upload - t0)) ms after it; load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$stack" start "$comp" >/dev/null 2>&1
role=$(redis-cli -h "${original%:*}" -p "${original##*:}" ROLE | head -1)
check "the restarted old master is a replica" [ "$role" = slave ]
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
