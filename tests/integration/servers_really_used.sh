#!/usr/bin/env bash
# Proves the integration tests really use the servers of scripts/stack.sh:
# with one server stopped, the tests of its client must fail. Each server is
# started again right after, whatever happened.
# Usage: servers_really_used.sh BUILD_DIR
set -uo pipefail
build=${1:?usage: servers_really_used.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
stack="$here/../../scripts/stack.sh"

# component:ctest-regex of the tests that need it
pairs=(
    "redis:^integration\.test_redis$"
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
    "$stack" stop "$component" >/dev/null
    if ctest --test-dir "$build" -R "$regex" --timeout 60 >/dev/null 2>&1; then
        echo "FAIL - $regex passed with $component stopped"; failed=$((failed + 1))
    else
        echo "ok   - $regex fails with $component stopped"; passed=$((passed + 1))
    fi
    "$stack" start "$component" >/dev/null || { echo "FAIL - could not start $component again"; exit 1; }
    # Sentinel promoted the replica while redis was down: back to the layout
    # the environment of the other tests names
    if [ "$component" = redis ]; then
        "$stack" promote redis 2>/dev/null || { echo "FAIL - redis is not the Redis master again"; exit 1; }
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
