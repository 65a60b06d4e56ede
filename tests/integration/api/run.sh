#!/usr/bin/env bash
# run.sh BUILD_DIR TEST — one mcloud-api integration test (TEST.py beside
# this file: contract, schemathesis, webhooks) with the stack's venv python, against
# the mcloud-api and mcloud binaries of BUILD_DIR (the test starts its own
# mcloud-api on a free port); the stack's environment is loaded if unset.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/support/stack_python.sh
source "$here/../../support/stack_python.sh"
for tool in mariadb ffmpeg kcat; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed: run scripts/bootstrap.sh" >&2; exit 1; }
done
"$python" -c 'import requests, jsonschema, yaml, tusclient, openapi_spec_validator, schemathesis, standardwebhooks' 2>/dev/null \
    || { echo "the venv lacks requests/jsonschema/tuspy/openapi-spec-validator/schemathesis/standardwebhooks: run scripts/bootstrap.sh venv" >&2; exit 1; }
exec "$python" "$here/$2.py" "$1"
