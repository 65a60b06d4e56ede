#!/usr/bin/env bash
# run.sh BUILD_DIR — the edge test (edge_test.py beside this file): mcloud-edge
# and the real nginx in front of mcloud-stream and mcloud-upload of BUILD_DIR,
# with the stack's venv python (boto3); the stack's environment is loaded if unset.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/support/stack_python.sh
source "$here/../../support/stack_python.sh"
for tool in mariadb nginx curl openssl redis-server redis-cli; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "$tool is not installed: run scripts/bootstrap.sh" >&2; exit 1; }
done
exec "$python" "$here/edge_test.py" "$1"
