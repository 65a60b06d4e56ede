# stack_python.sh — sourced by the Python integration tests' run.sh: loads
# the stack's environment when it is not set (scripts/stack.sh env) and sets
# $python to the stack's venv interpreter (boto3), failing clearly without it.
support=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${MCLOUD_S3_ENDPOINT:-}" ]; then
    eval "$("$support/../../scripts/stack.sh" env)"
fi
python=${MCLOUD_HOME:-$HOME/.mcloud}/cache/venv/bin/python
[ -x "$python" ] || { echo "no $python: run scripts/bootstrap.sh venv" >&2; exit 1; }
