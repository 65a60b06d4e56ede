#!/usr/bin/env bash
# install.sh — installs the console test's Node dependencies (playwright-core,
# which drives Debian's /usr/bin/chromium and downloads no browser of its
# own; axe-core, run inside the page) as package-lock.json pins them, and the
# console's own browser libraries (api/console, as scripts/bootstrap.sh web
# does) so the page under test is whole (tests/e2e/npm_ci.sh for both).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/../npm_ci.sh" "$here/../../../api/console" tus-js-client
exec bash "$here/../npm_ci.sh" "$here" playwright-core
