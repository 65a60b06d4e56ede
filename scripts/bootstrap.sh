#!/usr/bin/env bash
# scripts/bootstrap.sh — installs everything mcloud needs on a Debian 12
# machine: the C toolchain and libraries, the backing servers (MariaDB, Redis,
# Kafka from Maven Central, MinIO built from the Go module proxy), nginx (the
# stream tests' reference peer, never run as a system service), a boto3
# venv (bucket setup, reference S3 client), the Podman configuration and the
# player page's hls.js (npm ci in stream/web).
# Idempotent: every step checks first and skips when already done, so a second
# run takes seconds. CI runs it on fresh machines, so nothing may be assumed.
#
# usage: scripts/bootstrap.sh [step...]   steps: apt services podman kafka minio venv web
#        (no step = all, in that order)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
MCLOUD_LOG_PREFIX=bootstrap

CURRENT_STEP=init
trap 'rc=$?; [[ $rc -eq 0 ]] || printf "[bootstrap] FAILED in step \"%s\" (exit %s)\n" "$CURRENT_STEP" "$rc" >&2' EXIT

APT_PACKAGES=(
  build-essential pkg-config cmake ninja-build clang libclang-rt-14-dev
  libavformat-dev libavcodec-dev libavfilter-dev libswscale-dev libswresample-dev libavutil-dev
  librdkafka-dev libmicrohttpd-dev libhiredis-dev libmariadb-dev libcurl4-openssl-dev libssl-dev
  libjansson-dev libyaml-dev libxml2-dev libcmocka-dev zlib1g-dev
  mariadb-server mariadb-client redis-server redis-sentinel redis-tools
  ffmpeg kcat podman runc catatonit iptables jq curl ca-certificates python3-venv
  # scripts/base-image.sh: the local Debian base image of docker/ (no registry reachable)
  mmdebstrap
  # the browser test plays the player page in Debian's chromium, headless,
  # driven by playwright-core (Debian builds it with H.264 and AAC)
  chromium
  # wrk drives tests/bench/stream (HTTP load against mcloud-stream and nginx)
  wrk
)
# nginx: the reference peer of mcloud-stream in the Range conformance test and
# the stream benchmark (tests/support/nginx.sh runs private instances on
# test ports). Debian 12's nginx-light is only nginx plus the echo module.
APT_PACKAGES+=(nginx)
# Node.js runs the end-to-end tests' real clients (tus-js-client, playwright-core,
# which the tests install themselves with npm ci) and npm installs the player
# page's hls.js (the web step). Debian's nodejs and npm only where no
# node is installed: a newer Node from elsewhere (with its own npm) is kept.
have node || APT_PACKAGES+=(nodejs npm)
# system services those packages may start on their default ports; our stack
# runs its own instances, so they are stopped and kept from starting.
SYSTEM_SERVICES=(mariadb redis-server redis-sentinel nginx)
SYSTEM_PIDFILES=(/run/mysqld/mysqld.pid /run/redis/redis-server.pid /run/sentinel/redis-sentinel.pid /run/nginx.pid)

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif have sudo; then sudo "$@"
  else die "need root (or sudo) for: $*"; fi
}

# ---- apt --------------------------------------------------------------------
apt_missing_packages() {
  local -A ok=()
  local name status
  while read -r name status; do
    [[ $status == ii ]] && ok[$name]=1
  done < <(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${APT_PACKAGES[@]}" 2>/dev/null || true)
  for name in "${APT_PACKAGES[@]}"; do
    [[ -n ${ok[$name]:-} ]] || printf '%s\n' "$name"
  done
}

apt_check_candidates() {
  local p missing=()
  for p in "$@"; do
    [[ $(apt-cache policy "$p" 2>/dev/null) == *"Candidate: "[!\(]* ]] || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] || die "no apt candidate for: ${missing[*]}"
}

step_apt() {
  local missing
  mapfile -t missing < <(apt_missing_packages)
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "apt: all ${#APT_PACKAGES[@]} packages installed"
    return
  fi
  log "apt: missing ${#missing[@]} package(s): ${missing[*]}"
  local t0=$SECONDS apt_log=$MCLOUD_CACHE/apt.log
  log "apt: apt-get update (log: $apt_log)"
  as_root apt-get -o DPkg::Lock::Timeout=900 update >"$apt_log" 2>&1 || { tail -20 "$apt_log" >&2; die "apt-get update failed"; }
  apt_check_candidates "${missing[@]}"
  # keep package maintainer scripts from starting mariadb/redis/nginx on 3306/6379/80
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [[ ! -e $policy ]]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
    added_policy=1
  fi
  local rc=0
  log "apt: apt-get install (log: $apt_log)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y \
    --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" >>"$apt_log" 2>&1 || rc=$?
  [[ $added_policy -eq 0 ]] || as_root rm -f "$policy"
  [[ $rc -eq 0 ]] || { tail -40 "$apt_log" >&2; die "apt-get install failed (rc=$rc, log: $apt_log)"; }
  log "apt: installed in $(elapsed $t0)"
}

# ---- system services ---------------------------------------------------------
pid_from_file() { local p; p=$(cat "$1" 2>/dev/null) || return 1; [[ $p =~ ^[0-9]+$ ]] && kill -0 "$p" 2>/dev/null && echo "$p"; }

step_services() {
  local i svc pidfile pid
  for i in "${!SYSTEM_SERVICES[@]}"; do
    svc=${SYSTEM_SERVICES[$i]} pidfile=${SYSTEM_PIDFILES[$i]}
    [[ -e /etc/init.d/$svc || -e /lib/systemd/system/$svc.service ]] || continue
    if pid=$(pid_from_file "$pidfile"); then
      log "services: stopping system $svc (pid $pid)"
      if [[ -d /run/systemd/system ]]; then as_root systemctl stop "$svc" || true
      else as_root service "$svc" stop >/dev/null 2>&1 || true; fi
      if pid=$(pid_from_file "$pidfile"); then
        as_root kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
        if kill -0 "$pid" 2>/dev/null; then as_root kill -KILL "$pid" 2>/dev/null || true; fi
      fi
    fi
    # keep them from starting at boot (best effort: there may be no init system)
    if [[ -d /run/systemd/system ]]; then
      as_root systemctl disable "$svc" >/dev/null 2>&1 || true
    elif have update-rc.d; then
      as_root update-rc.d "$svc" disable >/dev/null 2>&1 || true
    fi
  done
  log "services: system mariadb/redis/nginx not running (the stack and the tests run their own)"
}

# ---- podman -------------------------------------------------------------------
ulimit_value() { local v; v=$(ulimit "$1"); [[ $v == unlimited ]] && v=1048576; echo "$v"; }

write_if_changed() { # write_if_changed FILE CONTENT
  local file=$1 content=$2
  if [[ -f $file ]] && [[ "$(cat "$file")" == "$content" ]]; then return 1; fi
  if [[ -f $file ]] && ! grep -q 'managed by mcloud' "$file"; then
    as_root cp -p "$file" "$file.mcloud-bak"
    log "podman: saved previous $file as $file.mcloud-bak"
  fi
  printf '%s\n' "$content" | as_root tee "$file" >/dev/null
}

step_podman() {
  have podman || die "podman not installed (run the apt step)"
  local nofile nproc conf storage changed=0
  nofile=$(ulimit_value -n) nproc=$(ulimit_value -u)
  # runc cannot set a container's nproc as high as the host's (96555 here):
  # every start failed with "error setting rlimit type 6". 4096 is plenty for
  # one mcloud daemon and works.
  [[ $nproc -gt 4096 ]] && nproc=4096
  conf="# managed by mcloud scripts/bootstrap.sh — regenerated on each run
[containers]
default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]
log_driver = \"k8s-file\"

[engine]
runtime = \"runc\"
cgroup_manager = \"cgroupfs\"
events_logger = \"file\"

[network]
network_backend = \"cni\""
  storage="# managed by mcloud scripts/bootstrap.sh — regenerated on each run
[storage]
driver = \"vfs\"
runroot = \"/run/containers/storage\"
graphroot = \"/var/lib/containers/storage\""
  as_root mkdir -p /etc/containers
  write_if_changed /etc/containers/containers.conf "$conf" && changed=1
  write_if_changed /etc/containers/storage.conf "$storage" && changed=1
  if [[ $changed -eq 1 ]]; then
    log "podman: wrote /etc/containers/{containers,storage}.conf (runc, cgroupfs, vfs, nofile=$nofile nproc=$nproc)"
  else
    log "podman: configuration up to date"
  fi
}

# ---- kafka ---------------------------------------------------------------------
step_kafka() {
  have java || die "java not found (OpenJDK 17+ is expected to be preinstalled)"
  have mvn || die "mvn not found (Maven is expected to be preinstalled)"
  local pom=$MCLOUD_SCRIPTS/conf/kafka/pom.xml stamp=$KAFKA_JARS/.complete sum
  sum=$(sha256sum "$pom" | cut -d' ' -f1)
  if [[ -f $stamp && $(cat "$stamp") == "$sum" && -f $KAFKA_JARS/kafka_2.13-$KAFKA_VERSION.jar ]]; then
    log "kafka: $KAFKA_VERSION jars present in $KAFKA_JARS"
    return
  fi
  local t0=$SECONDS work
  log "kafka: resolving Apache Kafka $KAFKA_VERSION from Maven Central"
  mkdir -p "$KAFKA_HOME"
  work=$(mktemp -d "$KAFKA_HOME/.resolve.XXXXXX")
  cp "$pom" "$work/pom.xml"
  if ! (cd "$work" && mvn -B -q -Dmaven.repo.local="$MCLOUD_CACHE/m2" \
          dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$work/jars" >"$work/mvn.log" 2>&1); then
    tail -40 "$work/mvn.log" >&2
    die "maven failed (log: $work/mvn.log)"
  fi
  [[ -f $work/jars/kafka_2.13-$KAFKA_VERSION.jar ]] || die "kafka_2.13-$KAFKA_VERSION.jar missing after resolve"
  rm -rf "$KAFKA_JARS"
  mv "$work/jars" "$KAFKA_JARS"
  echo "$sum" >"$stamp"
  rm -rf "$work"
  log "kafka: $(find "$KAFKA_JARS" -name '*.jar' | wc -l) jars in $KAFKA_JARS ($(elapsed $t0))"
}

# ---- minio ---------------------------------------------------------------------
step_minio() {
  if [[ -x $MINIO_BIN ]] && "$MINIO_BIN" --version >/dev/null 2>&1; then
    log "minio: $MINIO_VERSION present ($MINIO_BIN)"
    return
  fi
  have go || die "go not found (Go is expected under /usr/local/go)"
  local t0=$SECONDS bindir log_file
  bindir=$(dirname "$MINIO_BIN")
  log_file=$MCLOUD_CACHE/minio-build.log
  mkdir -p "$bindir"
  log "minio: go install $MINIO_MODULE@$MINIO_VERSION (first build takes several minutes; log: $log_file)"
  if ! GOBIN=$bindir go install "$MINIO_MODULE@$MINIO_VERSION" >"$log_file" 2>&1; then
    tail -40 "$log_file" >&2
    die "minio build failed (log: $log_file)"
  fi
  "$MINIO_BIN" --version >/dev/null || die "built minio does not run"
  log "minio: built in $(elapsed $t0)"
}

# ---- python venv -----------------------------------------------------------------
step_venv() {
  local py=$MCLOUD_VENV/bin/python
  # boto3: the reference S3 client; the rest: mcloud-api's tests (OpenAPI
  # validation, the contract test's tus client, the property-based run).
  local -a pins=("boto3==$BOTO3_VERSION" "openapi-spec-validator==$OPENAPI_SPEC_VALIDATOR_VERSION"
                 "jsonschema==$JSONSCHEMA_VERSION" "schemathesis==$SCHEMATHESIS_VERSION"
                 "tuspy==$TUSPY_VERSION" "requests==$REQUESTS_VERSION")
  local frozen pin missing=0
  frozen=$([[ -x $py ]] && "$MCLOUD_VENV/bin/pip" freeze 2>/dev/null || true)
  for pin in "${pins[@]}"; do grep -qixF "$pin" <<<"$frozen" || missing=1; done
  if [[ $missing == 0 ]]; then
    log "venv: ${pins[*]} present ($MCLOUD_VENV)"
    return
  fi
  local t0=$SECONDS
  log "venv: $MCLOUD_VENV with ${pins[*]}"
  [[ -x $py ]] || python3 -m venv "$MCLOUD_VENV" || die "python3 -m venv failed (is python3-venv installed?)"
  "$MCLOUD_VENV/bin/pip" install -q "${pins[@]}" >&2 || die "pip install ${pins[*]} failed"
  log "venv: ready ($(elapsed $t0))"
}

# ---- player page ---------------------------------------------------------------
# hls.js for the page mcloud-stream serves (/static/hls.min.js comes from
# stream/web/node_modules): `npm ci` exactly as package-lock.json pins it, from
# npm's cache when it can. Skipped when node_modules was installed from this
# very lock file already (a stamp beside it).
step_web() {
  have npm || die "npm not found (run the apt step)"
  local web
  web=$(cd "$MCLOUD_SCRIPTS/.." && pwd)/stream/web
  local stamp=$web/node_modules/.mcloud-installed-lock
  if [[ -f $stamp ]] && cmp -s "$stamp" "$web/package-lock.json" && [[ -f $web/node_modules/hls.js/dist/hls.min.js ]]; then
    log "web: hls.js $(node -p "require('$web/node_modules/hls.js/package.json').version") present ($web/node_modules)"
    return
  fi
  local t0=$SECONDS
  log "web: npm ci in $web"
  npm ci --prefix "$web" --prefer-offline --no-audit --no-fund --loglevel=error >&2 || die "npm ci in $web failed"
  [[ -f $web/node_modules/hls.js/dist/hls.min.js ]] || die "hls.min.js missing after npm ci in $web"
  cp "$web/package-lock.json" "$stamp"
  log "web: hls.js $(node -p "require('$web/node_modules/hls.js/package.json').version") installed ($(elapsed $t0))"
}

main() {
  local steps=("$@") t0=$SECONDS s
  [[ ${#steps[@]} -gt 0 ]] || steps=(apt services podman kafka minio venv web)
  mkdir -p "$MCLOUD_CACHE" "$MCLOUD_STACK"
  log "MCLOUD_HOME=$MCLOUD_HOME"
  for s in "${steps[@]}"; do
    declare -F "step_$s" >/dev/null || die "unknown step '$s' (apt services podman kafka minio venv web)"
    CURRENT_STEP=$s
    "step_$s"
  done
  CURRENT_STEP=finished
  log "bootstrap complete in $(elapsed $t0)"
}

main "$@"
