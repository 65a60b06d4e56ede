#!/usr/bin/env bash
# run.sh BUILD_DIR TEST.js — runs one end-to-end upload test (ctest label
# e2e). The daemons it starts are BUILD_DIR/upload/mcloud-upload (or
# $MCLOUD_UPLOAD_BIN), on the test's own ports; the backing services are the
# running stack (scripts/stack.sh), whose environment is loaded if unset.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$1 test=$2
if [ -z "${MCLOUD_S3_ENDPOINT:-}" ]; then
    eval "$("$here/../../../scripts/stack.sh" env)"
fi
export MCLOUD_BUILD_DIR=$build
cd "$here"
exec node "$here/$test"
