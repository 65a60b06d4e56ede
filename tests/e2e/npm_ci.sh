#!/usr/bin/env bash
# npm_ci.sh DIR PACKAGE — installs an end-to-end test's Node dependencies in
# DIR exactly as its package-lock.json pins them (`npm ci --prefix DIR`, from
# npm's cache when it can), then proves PACKAGE loads. Skipped when
# node_modules was installed from this very lock file already (a stamp
# beside it). Each e2e folder's install.sh calls it.
set -euo pipefail
dir=$(cd "$1" && pwd)
package=$2
stamp=$dir/node_modules/.mcloud-installed-lock
if [ -f "$stamp" ] && cmp -s "$stamp" "$dir/package-lock.json"; then
    echo "ok   - node_modules matches package-lock.json (node $(node --version))"
    exit 0
fi
npm ci --prefix "$dir" --prefer-offline --no-audit --no-fund --loglevel=error
cp "$dir/package-lock.json" "$stamp"
node -e "require('$dir/node_modules/$package'); console.log('ok   - $package ' + require('$dir/node_modules/$package/package.json').version + ' installed (node ' + process.version + ')')"
