#!/usr/bin/env bash
# run_node.sh DIR BUILD_DIR TEST.js — runs one end-to-end test (ctest label
# e2e) in Node from DIR (where its node_modules are): the backing services
# and daemons are the running stack's (scripts/stack.sh), whose environment
# is loaded if unset; BUILD_DIR names the tree whose binaries the test uses
# (MCLOUD_BUILD_DIR: the upload tests start its mcloud-upload on their own
# ports, the browser test drives its `mcloud` command line).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$1 build=$2 test=$3
if [ -z "${MCLOUD_S3_ENDPOINT:-}" ]; then
    eval "$("$here/../../scripts/stack.sh" env)"
fi
export MCLOUD_BUILD_DIR=$build
cd "$dir"
exec node "$dir/$test"
