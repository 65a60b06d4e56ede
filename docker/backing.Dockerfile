# docker/backing.Dockerfile — the backing services of docker/compose.yaml, one
# target each, from the same local Debian base as the service images
# (scripts/base-image.sh; `--build-arg BASE=debian:bookworm-slim` elsewhere):
# Debian's MariaDB and Redis packages, a Debian JRE for Kafka, and MinIO's
# server. Kafka's jars and the MinIO binary are the ones scripts/bootstrap.sh
# fetched (Maven Central) and built (Go module proxy): compose mounts them
# from $MCLOUD_CACHE read-only, as scripts/stack.sh runs them, so no image
# registry is needed. Debian is reached as in docker/Dockerfile. The build
# context is docker/ itself (compose.yaml says so), so the service images'
# context and its .containerignore stay as they are.
ARG BASE=localhost/mcloud-base:latest

FROM ${BASE} AS mariadb
RUN --mount=type=bind,source=apt-install.sh,target=/apt-install sh /apt-install mariadb-server
COPY backing/mariadb.sh /usr/local/bin/mcloud-mariadb
USER mysql
VOLUME /var/lib/mysql
ENTRYPOINT ["/bin/sh", "/usr/local/bin/mcloud-mariadb"]

FROM ${BASE} AS redis
RUN --mount=type=bind,source=apt-install.sh,target=/apt-install sh /apt-install redis-server
USER redis
VOLUME /var/lib/redis
ENTRYPOINT ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--dir", "/var/lib/redis", "--appendonly", "yes"]

FROM ${BASE} AS kafka
# the JRE's postinst links its man page into /usr/share/man/man1, which a
# minbase root filesystem does not have
RUN --mount=type=bind,source=apt-install.sh,target=/apt-install mkdir -p /usr/share/man/man1 \
 && sh /apt-install default-jre-headless \
 && useradd --system --uid 10002 --user-group --home-dir /var/lib/kafka kafka \
 && install -d -o kafka -g kafka /var/lib/kafka
COPY backing/kafka.sh /usr/local/bin/mcloud-kafka
USER kafka
VOLUME /var/lib/kafka
ENTRYPOINT ["/bin/sh", "/usr/local/bin/mcloud-kafka"]

FROM ${BASE} AS minio
RUN --mount=type=bind,source=apt-install.sh,target=/apt-install sh /apt-install ca-certificates python3-boto3 \
 && useradd --system --uid 10003 --user-group --home-dir /var/lib/minio minio \
 && install -d -o minio -g minio /var/lib/minio
COPY backing/minio.sh /usr/local/bin/mcloud-minio
USER minio
VOLUME /var/lib/minio
ENTRYPOINT ["/bin/sh", "/usr/local/bin/mcloud-minio"]
