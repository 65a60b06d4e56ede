#!/usr/bin/env bash
# install.sh — installs the tests' Node dependencies (tus-js-client) exactly
# as package-lock.json pins them: `npm ci --prefix tests/e2e/upload`, from
# npm's cache when it can (--prefer-offline). Skipped when node_modules was
# installed from this very lock file already (a stamp beside it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
stamp=$here/node_modules/.mcloud-installed-lock
if [ -f "$stamp" ] && cmp -s "$stamp" "$here/package-lock.json"; then
    echo "ok   - node_modules matches package-lock.json (node $(node --version))"
    exit 0
fi
npm ci --prefix "$here" --prefer-offline --no-audit --no-fund --loglevel=error
cp "$here/package-lock.json" "$stamp"
node -e "require('$here/node_modules/tus-js-client'); console.log('ok   - tus-js-client ' + require('$here/node_modules/tus-js-client/package.json').version + ' installed (node ' + process.version + ')')"
