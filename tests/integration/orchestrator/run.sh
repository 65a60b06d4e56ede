#!/usr/bin/env bash
# run.sh BUILD_DIR SCENARIO — one scenario of the mcloud-orchestrator
# integration test against the stack's real servers (the stack's environment
# is loaded if unset): orch_test.py (orchestrators alone) or, for the
# scenarios with real agents and containers, cluster_test.py; the
# autoscaler's with real transcoders, autoscale_test.py; the central log,
# logs_test.py.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/support/stack_python.sh
source "$here/../../support/stack_python.sh"
test=orch_test.py
case $2 in
  heal | nodes | crash | pending | revert | canary | scale | standalone | limits | metrics) test=cluster_test.py ;;
  roll) test=roll_test.py ;;
  burst | kafka | trickle) test=autoscale_test.py ;;
  logs) test=logs_test.py ;;
esac
exec "$python" "$here/$test" --build "$1" "$2"
