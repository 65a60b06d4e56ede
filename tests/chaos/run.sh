#!/usr/bin/env bash
# run.sh BUILD_DIR [chaos.py options] — the fault suite (tests/chaos/chaos.py)
# against the running stack, with the project's venv (boto3) and the Node
# that runs the e2e tests' tus-js-client; loads the stack's environment if
# it is not loaded yet. `make chaos` runs the full suite, ctest's chaos.short
# the short one.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "${1:?usage: run.sh BUILD_DIR [options]}"); shift
if [ -z "${MCLOUD_REDIS_SENTINEL:-}" ]; then
    eval "$("$here/../../scripts/stack.sh" env)"
fi
py=${MCLOUD_HOME:-$HOME/.mcloud}/cache/venv/bin/python
[ -x "$py" ] || { echo "FAIL - $py missing: scripts/bootstrap.sh makes the venv"; exit 1; }
export MCLOUD_BUILD_DIR=$build
exec "$py" "$here/chaos.py" --build "$build" "$@"
