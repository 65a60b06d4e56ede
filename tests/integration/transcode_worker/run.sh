#!/usr/bin/env bash
# run.sh WORKER_BIN SCENARIO — one scenario of the mcloud-transcode
# integration test (worker_test.py) with the stack's venv python (boto3);
# the stack's environment is loaded if unset.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/support/stack_python.sh
source "$here/../../support/stack_python.sh"
exec "$python" "$here/worker_test.py" --worker "$1" "$2"
