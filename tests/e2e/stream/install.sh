#!/usr/bin/env bash
# install.sh — installs the browser test's Node dependency (playwright-core,
# which drives Debian's /usr/bin/chromium; it downloads no browser of its own)
# as package-lock.json pins it (tests/e2e/npm_ci.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec bash "$here/../npm_ci.sh" "$here" playwright-core
