#!/usr/bin/env bash
# run.sh BUILD_DIR TEST — one mcloud-stream integration test (TEST.py beside
# this file: range_table, hostile, ffmpeg_http) with the stack's venv python
# (boto3), against the mcloud-stream and mcloud binaries of BUILD_DIR; the
# stack's environment is loaded if unset.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${MCLOUD_S3_ENDPOINT:-}" ]; then
    eval "$("$here/../../../scripts/stack.sh" env)"
fi
python=${MCLOUD_HOME:-$HOME/.mcloud}/cache/venv/bin/python
[ -x "$python" ] || { echo "no $python: run scripts/bootstrap.sh venv" >&2; exit 1; }
for tool in mariadb nginx curl; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "$tool is not installed: run scripts/bootstrap.sh" >&2; exit 1; }
done
exec "$python" "$here/$2.py" "$1"
