#!/usr/bin/env bash
# run.sh WORKER_BIN SCENARIO — one scenario of the mcloud-transcode
# integration test (worker_test.py) with the stack's venv python (boto3);
# the stack's environment is loaded if unset.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${MCLOUD_S3_ENDPOINT:-}" ]; then
    eval "$("$here/../../../scripts/stack.sh" env)"
fi
python=${MCLOUD_HOME:-$HOME/.mcloud}/cache/venv/bin/python
[ -x "$python" ] || { echo "no $python: run scripts/bootstrap.sh venv" >&2; exit 1; }
exec "$python" "$here/worker_test.py" --worker "$1" "$2"
