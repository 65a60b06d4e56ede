#!/usr/bin/env bash
# install.sh — installs the upload tests' Node dependency (tus-js-client) as
# package-lock.json pins it (tests/e2e/npm_ci.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec bash "$here/../npm_ci.sh" "$here" tus-js-client
