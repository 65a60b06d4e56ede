#!/usr/bin/env bash
# run_live.sh BUILD_DIR [--retry] — live_player.py (a video playing in
# chromium while it transcodes) with the stack's venv python; the stack's
# environment is loaded if unset.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/support/stack_python.sh
source "$here/../../support/stack_python.sh"
for tool in node ffmpeg kcat mariadb; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed: run scripts/bootstrap.sh" >&2; exit 1; }
done
exec "$python" "$here/live_player.py" "$@"
