#!/usr/bin/env bash
# kafka3.sh BUILD_DIR — the fault suite's three-broker Kafka fault (issue 13
# §3): a KRaft cluster of three nodes (each broker and controller, static
# quorum of 3), replication factor 3, min.insync.replicas=2, unclean leader
# election off; mcloud-kafka3-check (tests/chaos/kafka3_check.c) produces
# with mcloud's producer, SIGKILLs the broker leading partition 0 midway,
# goes on producing and reads everything back: nothing acknowledged lost,
# nothing twice. The cluster is this script's own (ports
# MCLOUD_CHAOS_KAFKA3_PORT .. +5, default HELPER_PORT_BASE+5 or 18195; state in a
# temporary directory): the stack's single broker is not touched. Every
# JVM it started is killed and the directory removed whatever happens.
set -euo pipefail
build=$(realpath "${1:?usage: kafka3.sh BUILD_DIR}"); shift
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
source "$here/../../scripts/lib.sh"
MCLOUD_LOG_PREFIX=kafka3
check=$build/tests/mcloud-kafka3-check
[[ -x $check ]] || { echo "FAIL - $check is not built (cmake --build $build)"; exit 1; }
[[ -f $KAFKA_JARS/kafka_2.13-$KAFKA_VERSION.jar ]] || { echo "FAIL - Kafka jars missing in $KAFKA_JARS (scripts/bootstrap.sh)"; exit 1; }
command -v java >/dev/null || { echo "FAIL - java missing (scripts/bootstrap.sh)"; exit 1; }
command -v kcat >/dev/null || { echo "FAIL - kcat missing (apt-get install kcat)"; exit 1; }
base=${MCLOUD_CHAOS_KAFKA3_PORT:-$(( ${HELPER_PORT_BASE:-18190} + 5 ))}
host=${MCLOUD_BIND:-127.0.0.1}
dir=$(mktemp -d /tmp/mcloud-kafka3.XXXXXX)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

broker_port() { echo $((base + $1 - 1)); }       # nodes 1..3
controller_port() { echo $((base + 2 + $1)); }
for p in $(seq "$base" $((base + 5))); do
    if (exec 3<>"/dev/tcp/$host/$p") 2>/dev/null; then echo "FAIL - port $p is taken (MCLOUD_CHAOS_KAFKA3_PORT moves the cluster)"; exit 1; fi
done
voters="1@$host:$(controller_port 1),2@$host:$(controller_port 2),3@$host:$(controller_port 3)"
bootstrap="$host:$(broker_port 1),$host:$(broker_port 2),$host:$(broker_port 3)"
cid=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
cat >"$dir/log4j2.properties" <<EOF
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = %d{ISO8601} %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = OUT
EOF
for id in 1 2 3; do
    mkdir -p "$dir/$id"
    cat >"$dir/$id/server.properties" <<EOF
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=PLAINTEXT://$host:$(broker_port $id),CONTROLLER://$host:$(controller_port $id)
advertised.listeners=PLAINTEXT://$host:$(broker_port $id)
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/$id/data
default.replication.factor=3
min.insync.replicas=2
unclean.leader.election.enable=false
offsets.topic.replication.factor=3
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
num.network.threads=2
num.io.threads=2
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=1000
EOF
    java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile="$dir/log4j2.properties" \
        -cp "$KAFKA_JARS/*" kafka.tools.StorageTool format --cluster-id "$cid" \
        --config "$dir/$id/server.properties" >"$dir/$id/format.log" 2>&1 \
        || { cat "$dir/$id/format.log"; echo "FAIL - formatting node $id"; exit 1; }
done
t0=$SECONDS
for id in 1 2 3; do
    java -Xms128m -Xmx384m -XX:+UseG1GC -Djava.awt.headless=true -Dlog4j2.configurationFile="$dir/log4j2.properties" \
        -Dkafka.logs.dir="$dir/$id/logs" -cp "$KAFKA_JARS/*" kafka.Kafka "$dir/$id/server.properties" \
        >"$dir/$id/kafka.log" 2>&1 &
    pids+=($!)
done
echo "# three KRaft nodes starting on $bootstrap (controllers $voters); load average $(cut -d' ' -f1-3 /proc/loadavg)"
up=0
for _ in $(seq 1 240); do
    n=$(kcat -b "$bootstrap" -L -J -m 3 2>/dev/null | jq '.brokers | length' 2>/dev/null || echo 0)
    [[ $n == 3 ]] && { up=1; break; }
    sleep 0.5
done
if [[ $up != 1 ]]; then
    for id in 1 2 3; do echo "--- node $id"; tail -20 "$dir/$id/kafka.log"; done
    echo "FAIL - the three brokers did not register within 120 s"
    exit 1
fi
echo "# cluster up in $((SECONDS - t0)) s"
"$check" "$bootstrap" mcloud.chaos.kafka3 "${MCLOUD_CHAOS_KAFKA3_COUNT:-3000}" "${MCLOUD_CHAOS_KAFKA3_KILL_AFTER:-1000}" \
    "1=${pids[0]},2=${pids[1]},3=${pids[2]}"
