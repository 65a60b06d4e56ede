#!/usr/bin/env bash
# broken/run.sh — shows that the fault suite's checker catches a platform
# that acknowledges before it is durable: HEAD's tree, with
# ack_before_durable.patch applied (mcloud-upload commits the outbox row of
# a completed upload 2 s AFTER the final 204, in its own transaction), is
# built in build-broken/; the stack's mcloud-upload is run from it while the
# suite injects its upload faults (SIGKILL mcloud-upload, twice); the suite
# must FAIL (acknowledged videos that never become ready). The stack's
# mcloud-upload is put back from BUILD_DIR whatever happens.
# Usage: tests/chaos/broken/run.sh BUILD_DIR   (prints the suite's report;
# exit 0 when the suite failed as it must, 1 when it passed)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
good=$(realpath "${1:?usage: broken/run.sh BUILD_DIR}")
scratch=$root/build-broken
stack=$root/scripts/stack.sh
[ -n "${MCLOUD_REDIS_SENTINEL:-}" ] || eval "$("$stack" env)"

rm -rf "$scratch/src" && mkdir -p "$scratch/src"
git -C "$root" archive HEAD | tar -x -C "$scratch/src"
patch -d "$scratch/src" -p1 <"$here/ack_before_durable.patch" || { echo "FAIL - the patch does not apply"; exit 1; }
cmake -S "$scratch/src" -B "$scratch/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
    cmake --build "$scratch/build" -j2 --target mcloud-upload mcloud-token >/dev/null ||
    { echo "FAIL - the broken tree does not build"; exit 1; }
# the broken tree's other daemons are the good ones (only upload differs)
for d in transcode cli dbmon stream api; do
    mkdir -p "$scratch/build/$d"
    for f in "$good/$d"/mcloud*; do [ -x "$f" ] && ln -sf "$f" "$scratch/build/$d/"; done
done

restore() { MCLOUD_BUILD_DIR=$good "$stack" stop upload >/dev/null 2>&1; MCLOUD_BUILD_DIR=$good "$stack" start upload >/dev/null 2>&1 ||
    echo "# WARNING: could not start mcloud-upload from $good again"; }
trap restore EXIT
MCLOUD_BUILD_DIR=$scratch/build "$stack" stop upload >/dev/null 2>&1
MCLOUD_BUILD_DIR=$scratch/build "$stack" start upload >/dev/null || { echo "FAIL - the broken mcloud-upload does not start"; exit 1; }
echo "# mcloud-upload now runs $(readlink -f /proc/$("$stack" status upload | awk '{print $5}')/exe)"
if bash "$root/tests/chaos/run.sh" "$scratch/build" --videos 10 --rounds 2 --only upload \
        --settle 120 --report "$scratch/chaos-report-broken.md"; then
    echo "FAIL - the suite passed against a build that acknowledges before the outbox commit"
    exit 1
fi
echo "ok   - the suite failed against the broken build, as it must (report: $scratch/chaos-report-broken.md)"
