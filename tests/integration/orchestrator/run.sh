#!/usr/bin/env bash
# run.sh BUILD_DIR SCENARIO — one scenario of the mcloud-orchestrator
# integration test (orch_test.py) against the stack's real Redis and
# MariaDB; the stack's environment is loaded if unset.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/support/stack_python.sh
source "$here/../../support/stack_python.sh"
exec "$python" "$here/orch_test.py" --build "$1" "$2"
