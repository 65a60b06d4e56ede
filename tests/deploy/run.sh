#!/usr/bin/env bash
# tests/deploy/run.sh kubernetes|compose — the offline checks of the
# deployment files (ctest deploy.kubernetes, deploy.compose): no cluster, no
# container is started. Run with the venv's Python, where scripts/bootstrap.sh
# installs kubernetes-validate and podman-compose; a missing tool fails the
# test saying how to install it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${MCLOUD_CACHE:-${MCLOUD_HOME:-$HOME/.mcloud}/cache}
python=$cache/venv/bin/python
[[ -x $python ]] || { echo "FAIL: no $python: run scripts/bootstrap.sh venv" >&2; exit 1; }
case ${1:-} in
  kubernetes) exec "$python" "$here/check_kubernetes.py" ;;
  compose)    exec "$python" "$here/check_compose.py" ;;
  *) echo "usage: $0 kubernetes|compose" >&2; exit 2 ;;
esac
