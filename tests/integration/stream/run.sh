#!/usr/bin/env bash
# run.sh BUILD_DIR TEST — one mcloud-stream integration test (TEST.py beside
# this file: range_table, hostile, ffmpeg_http, cache_daemon,
# lifecycle) with the stack's venv python
# (boto3), against the mcloud-stream and mcloud binaries of BUILD_DIR; the
# stack's environment is loaded if unset.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/support/stack_python.sh
source "$here/../../support/stack_python.sh"
for tool in mariadb nginx curl; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "$tool is not installed: run scripts/bootstrap.sh" >&2; exit 1; }
done
exec "$python" "$here/$2.py" "$1"
