#!/usr/bin/env bash
# openapi_valid.sh — api/openapi.yaml is a valid OpenAPI 3.1 document
# (openapi-spec-validator from PyPI, in the venv scripts/bootstrap.sh makes).
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
validator=${MCLOUD_HOME:-$HOME/.mcloud}/cache/venv/bin/openapi-spec-validator
[ -x "$validator" ] || { echo "no $validator: run scripts/bootstrap.sh venv" >&2; exit 1; }
"$validator" "$root/api/openapi.yaml"
