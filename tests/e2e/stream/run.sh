#!/usr/bin/env bash
# run.sh BUILD_DIR TEST.js — runs one end-to-end stream test (ctest label
# e2e) against the running platform (scripts/stack.sh: the backing services
# and the upload, transcode and stream daemons), whose environment is loaded
# if unset. BUILD_DIR gives the `mcloud` command line the test drives.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$1 test=$2
if [ -z "${MCLOUD_S3_ENDPOINT:-}" ]; then
    eval "$("$here/../../../scripts/stack.sh" env)"
fi
export MCLOUD_BUILD_DIR=$build
cd "$here"
exec node "$here/$test"
