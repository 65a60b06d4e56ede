#!/usr/bin/env bash
# run.sh — the README's first command (`make run`): bring mcloud up on this
# machine. Installs what is missing, builds every daemon, starts the real
# backing services and prints where everything answers.
#
# Today the platform is its foundation: the backing services and the common
# library. The upload, transcode and stream daemons join `scripts/stack.sh
# up` as they land, and this script then uploads a sample, transcodes it and
# prints where to watch it.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
scripts/bootstrap.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
scripts/stack.sh up
echo
scripts/stack.sh status
echo
echo "Environment for tools and tests (eval \"\$(scripts/stack.sh env)\"):"
scripts/stack.sh env
echo
echo "mcloud is up after $(( $(date +%s) - started )) s. Stop it with: scripts/stack.sh down"
