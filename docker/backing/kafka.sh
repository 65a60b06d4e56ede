#!/bin/sh
# docker/backing/kafka.sh — one KRaft Kafka node of docker/compose.yaml from
# the jars scripts/bootstrap.sh put in $MCLOUD_CACHE (mounted at
# /opt/kafka/jars): formats its storage on first start, creates the topics
# the services use (names and partitions of scripts/stack.sh) once it
# answers, and runs in the foreground.
set -eu
jars=/opt/kafka/jars
dir=/var/lib/kafka
ls "$jars"/kafka_2.13-*.jar >/dev/null 2>&1 || {
  echo "kafka: no Kafka jars in $jars: run scripts/bootstrap.sh kafka and set MCLOUD_CACHE" >&2; exit 1; }
cat >"$dir/server.properties" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=localhost:9093
listeners=PLAINTEXT://0.0.0.0:9092,CONTROLLER://localhost:9093
advertised.listeners=PLAINTEXT://${KAFKA_ADVERTISED_HOST:-kafka}:9092
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
CONF
tool() { java -Xmx256m -XX:+UseSerialGC -cp "$jars/*" "$@"; }
if [ ! -f "$dir/data/meta.properties" ]; then
  echo "kafka: first start, formatting $dir/data"
  tool kafka.tools.StorageTool format --standalone --ignore-formatted \
    --cluster-id "$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')" --config "$dir/server.properties"
fi
(
  until tool org.apache.kafka.tools.TopicCommand --bootstrap-server localhost:9092 --list >/dev/null 2>&1; do sleep 2; done
  for spec in ${KAFKA_TOPICS:?}; do
    tool org.apache.kafka.tools.TopicCommand --bootstrap-server localhost:9092 --create --if-not-exists \
      --topic "${spec%:*}" --partitions "${spec#*:}" --replication-factor 1
  done
) &
exec java -Xms256m -Xmx512m -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -cp "$jars/*" kafka.Kafka "$dir/server.properties"
