#!/usr/bin/env bash
# test.sh — the README's test command (`make test`), and all that .ci/run runs.
#
# Installs what is missing, builds the plain, sanitizer (ASan+UBSan),
# Release (build only) and libFuzzer trees, starts the real backing services with scripts/stack.sh,
# runs every ctest suite against them and stops the services it started.
# Exits non-zero when any suite fails; every suite runs even after a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
jobs=$(nproc)

step "bootstrap (system packages, Kafka, MinIO, helm)"
scripts/bootstrap.sh

step "build: plain"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"

step "build: AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMCLOUD_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$jobs"

# Release (-O3) is what a packager builds first, and gcc's warnings differ
# with the optimisation level: build it (only build it — the tests run in
# the trees above) so -Werror findings at -O3 fail CI.
step "build: Release (build only)"
t0=$SECONDS
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release -j "$jobs"
echo "Release build: $((SECONDS - t0)) s"

step "build: libFuzzer targets (clang)"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
      -DMCLOUD_FUZZ=ON >/dev/null
cmake --build build-fuzz -j "$jobs"

stack_was_up=0
# The backing servers decide: daemons (upload) are (re)started by `up` anyway.
if scripts/stack.sh status mysql-master mysql-replica redis kafka s3 >/dev/null 2>&1; then stack_was_up=1; fi
step "stack: up"
scripts/stack.sh up
if [ "$stack_was_up" = 0 ]; then
    trap 'step "stack: down"; scripts/stack.sh down' EXIT
fi

# After `down`, no server process of the stack may be left.
# Servers of this machine's mount namespace only: a container's (make
# fresh-check's stack, running beside) is not this checkout's to stop.
stack_processes() {
    local me pid args
    me=$(readlink /proc/self/ns/mnt)
    ps -eo pid=,args= | grep -E 'mariadbd|redis-server|kafka\.Kafka|minio server' | grep -v grep |
        while read -r pid args; do
            [ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" = "$me" ] && echo "$pid $args"
        done || true
}
eval "$(scripts/stack.sh env)"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Tests run in parallel, one per core (MCLOUD_CTEST_JOBS overrides): the test
# that stops shared servers (integration.servers_really_used) is RUN_SERIAL and
# every other one has its own ports, databases and topics. Measured on the
# 2-core machine, plain tree: -j2 1040 s, -j1 1351 s (load ~26 both).
ctest_jobs=${MCLOUD_CTEST_JOBS:-$jobs}
failed=()
run_suite() {
    local name=$1 dir=$2; shift 2
    step "ctest: $name (-j $ctest_jobs)"
    if ! (cd "$dir" && ctest --output-on-failure -j "$ctest_jobs" "$@"); then failed+=("$name"); fi
}
# Tests labelled "long" (minutes of container starts each, some stopping
# shared servers) run with `make test-long` (MCLOUD_TEST_LONG=1), not here.
if [ "${MCLOUD_TEST_LONG:-0}" = 1 ]; then
    run_suite "long" build -L long
else
    run_suite "plain" build -LE long
    run_suite "sanitizers" build-asan
    run_suite "fuzz" build-fuzz -L fuzz
fi

if [ "$stack_was_up" = 0 ]; then
    trap - EXIT
    step "stack: down"
    scripts/stack.sh down
    left=$(stack_processes)
    if [ -n "$left" ]; then
        echo "FAIL - processes left after scripts/stack.sh down:"; echo "$left"
        failed+=("stack-down")
    else
        echo "ok   - no stack process left after scripts/stack.sh down"
    fi
fi

if [ ${#failed[@]} -gt 0 ]; then
    step "FAILED suites: ${failed[*]}"
    exit 1
fi
step "all suites passed"
