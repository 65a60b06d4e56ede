#!/usr/bin/env bash
# install.sh — installs the browser test's Node dependency (playwright-core,
# which drives Debian's /usr/bin/chromium; it downloads no browser of its own)
# exactly as package-lock.json pins it: `npm ci --prefix tests/e2e/stream`,
# from npm's cache when it can (--prefer-offline). Skipped when node_modules
# was installed from this very lock file already (a stamp beside it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
stamp=$here/node_modules/.mcloud-installed-lock
if [ -f "$stamp" ] && cmp -s "$stamp" "$here/package-lock.json"; then
    echo "ok   - node_modules matches package-lock.json (node $(node --version))"
    exit 0
fi
npm ci --prefix "$here" --prefer-offline --no-audit --no-fund --loglevel=error
cp "$here/package-lock.json" "$stamp"
node -e "require('$here/node_modules/playwright-core'); console.log('ok   - playwright-core ' + require('$here/node_modules/playwright-core/package.json').version + ' installed (node ' + process.version + ')')"
