#!/usr/bin/env bash
# Proves the integration tests really use the servers of scripts/stack.sh:
# with one server stopped, the tests of its client must fail. Each server is
# started again right after, whatever happened.
# Usage: servers_really_used.sh BUILD_DIR
set -uo pipefail
build=${1:?usage: servers_really_used.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
stack="$here/../../scripts/stack.sh"

# components:ctest-regex of the tests that need them. Redis is reached through
# its Sentinels, which promote the replica when the master stops (that is
# what they are for: test_redis then passes): both Redis servers stop, the
# replica first, so nothing can be promoted and no failover moves the master.
pairs=(
    "redis-replica,redis:^integration\.test_redis$"
    "kafka:^integration\.test_kafka$"
    "s3:^integration\.test_s3$"
    "@MCLOUD_MYSQL_MASTER:^integration\.test_mysql$"
    "@MCLOUD_MYSQL_REPLICA:^integration\.test_mysql$"
)
# "@VAR": the MariaDB server at the address in VAR — which server is the
# master or the published replica is the config service's business (it
# moves on failover), so the component is looked up by address.
component_at() {
    "$stack" status 2>/dev/null | awk -v a="$1" '$3 == a {print $1}'
}
passed=0 failed=0
# redis_writable: every Sentinel names the same master, which answers ROLE
# as master and takes a write (the layout the other tests need is back)
redis_writable() {
    local spec=${MCLOUD_REDIS_SENTINEL#sentinel://} s master= m
    local name=${spec%%@*} list=${spec#*@}
    for s in ${list//,/ }; do
        m=$(redis-cli -h "${s%:*}" -p "${s##*:}" --raw SENTINEL get-master-addr-by-name "$name" 2>/dev/null | tr '\n' ' ')
        [ -n "$m" ] || return 1
        [ -z "$master" ] || [ "$m" = "$master" ] || return 1
        master=$m
    done
    set -- $master
    [ "$(redis-cli -h "$1" -p "$2" --raw ROLE 2>/dev/null | head -1)" = master ] &&
        [ "$(redis-cli -h "$1" -p "$2" SET mcloud:test:servers_really_used ok 2>/dev/null)" = OK ]
}
redis_masters() {
    local spec=${MCLOUD_REDIS_SENTINEL#sentinel://} s
    for s in $(tr , ' ' <<<"${spec#*@}"); do
        printf '%s names %s; ' "$s" "$(redis-cli -h "${s%:*}" -p "${s##*:}" --raw SENTINEL get-master-addr-by-name "${spec%%@*}" 2>&1 | tr '\n' ' ')"
    done
}
[ -n "${MCLOUD_REDIS_SENTINEL:-}" ] || { echo "FAIL - MCLOUD_REDIS_SENTINEL unset: eval \"\$(scripts/stack.sh env)\" first"; exit 1; }
for pair in "${pairs[@]}"; do
    component=${pair%%:*} regex=${pair#*:}
    if [[ $component == @* ]]; then
        var=${component#@}
        component=$(component_at "${!var:-}")
        [ -n "$component" ] || { echo "FAIL - no stack server at \$$var (${!var:-unset})"; failed=$((failed + 1)); continue; }
    fi
    if ! ctest --test-dir "$build" -N -R "$regex" | grep -q 'Total Tests: [1-9]'; then
        echo "FAIL - no test matches $regex"; failed=$((failed + 1)); continue
    fi
    IFS=, read -ra comps <<<"$component"
    for c in "${comps[@]}"; do "$stack" stop "$c" >/dev/null; done
    if ctest --test-dir "$build" -R "$regex" --timeout 60 >/dev/null 2>&1; then
        echo "FAIL - $regex passed with $component stopped"; failed=$((failed + 1))
    else
        echo "ok   - $regex fails with $component stopped"; passed=$((passed + 1))
    fi
    # started again in the reverse order (the Redis master before its replica)
    for ((i = ${#comps[@]} - 1; i >= 0; i--)); do
        "$stack" start "${comps[i]}" >/dev/null || { echo "FAIL - could not start ${comps[i]} again"; exit 1; }
    done
done
# what the tests after this one need: the Redis master named by the
# Sentinels answers as master and takes writes
for _ in $(seq 1 60); do redis_writable && break; sleep 0.5; done
if redis_writable; then echo "ok   - the Redis master named by the Sentinels takes writes again"; passed=$((passed + 1))
else echo "FAIL - the Redis master named by the Sentinels takes no write (Sentinels: $(redis_masters))"; failed=$((failed + 1)); fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
