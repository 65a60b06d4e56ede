#!/usr/bin/env bash
# run.sh AGENT_BIN — mcloud-agent against a real engine (its own `podman system
# service` on a private socket), the stack's real Redis and the upload image
# (`make images`): an ordered instance runs and is healthy; SIGKILL of the
# process inside gets it restarted; a container exiting at start backs off
# with growing delays, capped; an order with a stale fencing token gets 409;
# a restarted agent adopts the running container (same id, same start time);
# a container the engine made for an order whose create the agent gave up
# on (a timeout under load: made, never started) is taken, not met as
# "name in use".
# Everything it started (agent, podman service, containers with its node
# label) is stopped and removed on exit, also on failure.
set -euo pipefail
agent_bin=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
image=localhost/mcloud-upload:latest
for tool in podman curl jq python3 redis-cli; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed: run scripts/bootstrap.sh" >&2; exit 1; }
done
podman image exists "$image" || { echo "FAIL: $image missing: run make images" >&2; exit 1; }
if [[ -z ${MCLOUD_REDIS:-} ]]; then eval "$("$root/scripts/stack.sh" env)"; fi
redis_port=${MCLOUD_REDIS##*:}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
node=itest-$$
# its own heartbeat key prefix: under the default one ("mcloud") the
# platform's orchestrator, when one runs on this Redis (make run before make
# test, as make fresh-check does), takes the node for its own and stops the
# instance it never ordered
prefix=mcloud-agent-test-$$
# the containers' lines go to a log topic of this run's own (logs.topic), deleted at the end
export MCLOUD_LOGS_TOPIC=mcloud-test-logs-$node
topics_tool=${MCLOUD_TEST_KAFKA_TOPICS:-$(dirname "$1")/../../tests/mcloud-test-kafka-topics}
dir=$(mktemp -d /tmp/mcloud-agent-test.XXXXXX)
agent_port=$(free_port) svc_port=$(free_port)
agent_pid= podman_pid=
cleanup() {
  [[ -n $agent_pid ]] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  podman rm -f --filter "label=mcloud.node=$node" >/dev/null 2>&1 || true
  [[ -n $podman_pid ]] && kill "$podman_pid" 2>/dev/null && wait "$podman_pid" 2>/dev/null
  redis-cli -p "$redis_port" del "$prefix:node:$node" >/dev/null 2>&1 || true
  "$topics_tool" delete "$MCLOUD_LOGS_TOPIC" >/dev/null || echo "WARN: log topic $MCLOUD_LOGS_TOPIC not deleted" >&2
  rm -rf "$dir"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  local f
  for f in agent podman; do
    [[ -f $dir/$f.log ]] && { echo "--- $f log (tail)"; tail -20 "$dir/$f.log" >&2; }
  done
  exit 1
}
# wait_for SECONDS DESCRIPTION COMMAND...: generous limits against hangs only
wait_for() {
  local limit=$1 what=$2; shift 2
  for ((i = 0; i < limit * 4; i++)); do "$@" && return 0; sleep 0.25; done
  fail "timed out after ${limit}s waiting for: $what"
}

podman system service --time=0 "unix://$dir/podman.sock" >"$dir/podman.log" 2>&1 &
podman_pid=$!
# 180 s: podman waits for its storage lock, which another podman user on the
# machine (a container removal in vfs, an image build) can hold for minutes
wait_for 180 "the podman service" curl -fsS --unix-socket "$dir/podman.sock" -o /dev/null http://d/_ping

start_agent() {
  MCLOUD_AGENT_PORT=$agent_port MCLOUD_AGENT_NODE=$node MCLOUD_AGENT_ENGINE_SOCKET=$dir/podman.sock MCLOUD_AGENT_KEY_PREFIX=$prefix \
    MCLOUD_AGENT_STATE_DIR=$dir/state "$agent_bin" >>"$dir/agent.log" 2>&1 &
  agent_pid=$!
  wait_for 60 "the agent's /readyz" curl -fsS -o /dev/null "http://127.0.0.1:$agent_port/readyz"
}
start_agent
api=http://127.0.0.1:$agent_port

# order_body INDEX PORT [EXTRA_ENV_JSON [env]]: the order's JSON body (with
# "env": its environment as KEY=VALUE lines, an --env-file)
order_body() {
  python3 - "$1" "$2" "${3:-{\}}" "${4:-}" <<'PY'
import json, os, sys
index, port, extra = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
env = {k: v for k, v in os.environ.items() if k.startswith(("MCLOUD_MYSQL_", "MCLOUD_S3_")) or k in ("MCLOUD_REDIS", "MCLOUD_KAFKA")}
env.update(MCLOUD_UPLOAD_PORT=str(port), MCLOUD_HTTP_BIND="127.0.0.1", MCLOUD_UPLOAD_PUBLIC_URL=f"http://127.0.0.1:{port}")
env.update(extra)
if sys.argv[4] == "env":
    print("\n".join(f"{k}={v}" for k, v in sorted(env.items())))
    sys.exit(0)
print(json.dumps({"v": 1, "service": "upload", "index": index, "image": "localhost/mcloud-upload:latest",
  "spec_version": 1, "port": port, "env": env, "resources": {"cpus": 0.5, "memory_bytes": 268435456, "pids": 256},
  "health": {"interval_ms": 500, "timeout_ms": 1000, "failures": 3},
  "restart": {"delay_ms": 200, "max_delay_ms": 1600}, "stop_grace_ms": 5000}))
PY
}
# order NAME INDEX PORT FENCE [EXTRA_ENV_JSON]: prints the HTTP status
order() {
  local body
  body=$(order_body "$2" "$3" "${5:-{\}}")
  curl -sS -o "$dir/answer" -w '%{http_code}' -X PUT -H "X-Mcloud-Fence: $4" --data-binary "$body" "$api/v1/instances/$1"
}
field() { curl -fsS "$api/v1/instances" | jq -r --arg n "$1" ".instances[] | select(.name == \$n) | $2"; }
is() { [[ $(field "$1" "$2") == "$3" ]]; }

echo "== an ordered instance runs and is healthy"
[[ $(order upload-0 0 "$svc_port" 5) == 201 ]] || fail "PUT upload-0: $(cat "$dir/answer")"
wait_for 120 "upload-0 running and healthy" is upload-0 '.state + "/" + (.healthy|tostring)' running/true
curl -fsS "http://127.0.0.1:$svc_port/healthz" >/dev/null || fail "the container's /healthz does not answer"
[[ $(order upload-0 0 "$svc_port" 5) == 200 ]] || fail "the same order again is not 200 (idempotent)"
wait_for 10 "the node heartbeat in Redis" bash -c "redis-cli -p $redis_port get $prefix:node:$node | jq -e '.instances[0].name == \"upload-0\" and .fence == 5' >/dev/null"
wait_for 30 "upload-0's cgroup use in its instance" bash -c "curl -fsS $api/v1/instances | jq -e '.instances[0].usage | .memory_bytes > 0 and .pids >= 1 and .cpu_percent >= 0' >/dev/null"
curl -fsS "$api/metrics" | grep -q '^mcloud_agent_container_memory_bytes{instance="upload-0"} [1-9]' \
  || fail "no container memory on /metrics"
labels=$(podman inspect -f '{{index .Config.Labels "mcloud.instance"}} {{index .Config.Labels "mcloud.managed"}} {{index .Config.Labels "mcloud.spec_version"}}' "mcloud-$node-upload-0")
[[ $labels == "upload-0 true 1" ]] || fail "container labels: $labels"

echo "== an order with a stale fencing token is refused"
[[ $(order upload-0 0 "$svc_port" 4) == 409 ]] || fail "stale fence not refused"
jq -e '.code == "stale_fence"' "$dir/answer" >/dev/null || fail "409 without code stale_fence: $(cat "$dir/answer")"
[[ $(curl -sS -o /dev/null -w '%{http_code}' -X DELETE -H 'X-Mcloud-Fence: 1' "$api/v1/instances/upload-0") == 409 ]] \
  || fail "stale DELETE not refused"
[[ $(order upload-0 0 "$svc_port" nope) == 400 ]] || fail "a garbled fence is not 400"

echo "== SIGKILL of the process inside: restarted, healthy again"
old_id=$(field upload-0 .container_id)
kill -9 "$(podman inspect -f '{{.State.Pid}}' "$old_id")"
wait_for 120 "upload-0 restarted" is upload-0 .restarts 1
[[ $(field upload-0 .last_exit_code) == 137 ]] || fail "last exit code $(field upload-0 .last_exit_code), not 137"
wait_for 120 "upload-0 healthy again" is upload-0 '.state + "/" + (.healthy|tostring)' running/true
[[ $(field upload-0 .container_id) != "$old_id" ]] || fail "the dead container was not replaced"

echo "== a restarted agent adopts its running container (none restarted)"
id=$(field upload-0 .container_id)
started=$(podman inspect -f '{{.State.StartedAt}}' "$id")
kill "$agent_pid"; wait "$agent_pid" 2>/dev/null || true; agent_pid=
podman inspect -f '{{.State.Running}}' "$id" | grep -qx true || fail "the container stopped with the agent"
start_agent
wait_for 60 "upload-0 adopted and healthy" is upload-0 '.state + "/" + (.healthy|tostring)' running/true
[[ $(field upload-0 .container_id) == "$id" ]] || fail "adopted a different container"
[[ $(podman inspect -f '{{.State.StartedAt}}' "$id") == "$started" ]] || fail "the container was restarted"
[[ $(curl -fsS "$api/v1/instances" | jq .fence) == 5 ]] || fail "the fence was not kept across the restart"
[[ $(order upload-0 0 "$svc_port" 4) == 409 ]] || fail "stale fence accepted after an agent restart"

echo "== a container the engine made for the order (a create given up on) is taken, not recreated"
take_port=$(free_port)
order_body 2 "$take_port" '{}' env >"$dir/take.env"
made=$(podman create --name "mcloud-$node-upload-2" --network host --ulimit nproc=4096:4096 --ulimit nofile=16384:16384 --env-file "$dir/take.env" \
  --label mcloud.managed=true --label "mcloud.node=$node" --label mcloud.instance=upload-2 \
  --label mcloud.service=upload --label mcloud.spec_version=1 "$image") || fail "podman create upload-2"
[[ $(order upload-2 2 "$take_port" 5) == 201 ]] || fail "PUT upload-2: $(cat "$dir/answer")"
wait_for 120 "upload-2 running and healthy" is upload-2 '.state + "/" + (.healthy|tostring)' running/true
[[ $(field upload-2 .container_id) == "$made" ]] || fail "upload-2 runs $(field upload-2 .container_id), not the container made for it ($made)"
grep -q '"taking the container the engine made for this order".*"instance":"upload-2"' "$dir/agent.log" \
  || fail "the agent did not say it took upload-2's container"
echo "   upload-2 runs the container made before its order (${made:0:12})"

echo "== a container exiting at start backs off: delays growing, capped"
bad_port=$(free_port)
[[ $(order upload-1 1 "$bad_port" 6 '{"MCLOUD_UPLOAD_PORT":"not-a-port"}') == 201 ]] || fail "PUT upload-1: $(cat "$dir/answer")"
wait_for 180 "six restarts of upload-1" bash -c "[[ \$(curl -fsS $api/v1/instances | jq '.instances[] | select(.name==\"upload-1\") | .restart_schedule_ms | length') -ge 6 ]]"
sched=$(field upload-1 '.restart_schedule_ms | map(tostring) | join(" ")')
echo "   schedule (ms): $sched; last exit code $(field upload-1 .last_exit_code)"
python3 - "$sched" <<'PY' || fail "backoff schedule not growing and capped: $sched"
import sys
d = [int(x) for x in sys.argv[1].split()]
# jittered into [c/2, c] of the capped exponential c = min(1600, 200 * 2^k)
for k, v in enumerate(d):
    c = min(1600, 200 * 2 ** k)
    assert c // 2 <= v <= c, (k, v, c)
assert max(d) <= 1600 and d[-1] >= 800, d   # reached the cap's window
PY
[[ $(field upload-1 .last_exit_code) != 0 ]] || fail "crash loop without a failing exit code"
[[ $(field upload-1 .healthy) == false ]] || fail "a crash-looping instance reported healthy"
curl -fsS "$api/v1/instances/upload-1/logs?tail=20" -o "$dir/logs" || true

echo "== DELETE stops and removes the container"
[[ $(curl -sS -o /dev/null -w '%{http_code}' -X DELETE -H 'X-Mcloud-Fence: 6' "$api/v1/instances/upload-0") == 202 ]] || fail "DELETE not 202"
wait_for 60 "upload-0 gone" bash -c "! podman container exists mcloud-$node-upload-0"
echo "PASS"
