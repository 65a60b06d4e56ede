#!/bin/sh
# docker/backing/mariadb.sh — MariaDB of docker/compose.yaml: creates the data
# directory, the database and the mcloud account on first start (the
# services apply their schema migrations themselves), then runs mariadbd.
set -eu
: "${MCLOUD_MYSQL_DATABASE:?}" "${MCLOUD_MYSQL_USER:?}" "${MCLOUD_MYSQL_PASSWORD:?}"
datadir=/var/lib/mysql
if [ ! -d "$datadir/mysql" ]; then
  echo "mariadb: first start, creating $datadir"
  mariadb-install-db --datadir="$datadir" --skip-test-db --auth-root-authentication-method=socket >/dev/null
  sql=$(printf "CREATE DATABASE IF NOT EXISTS \`%s\`;\nCREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s';\nGRANT ALL ON \`%s\`.* TO '%s'@'%%';\n" \
    "$MCLOUD_MYSQL_DATABASE" "$MCLOUD_MYSQL_USER" "$MCLOUD_MYSQL_PASSWORD" "$MCLOUD_MYSQL_DATABASE" "$MCLOUD_MYSQL_USER")
  echo "$sql" > /tmp/init.sql
  set -- --init-file=/tmp/init.sql
fi
exec mariadbd --datadir="$datadir" --bind-address=0.0.0.0 --port=3306 --skip-name-resolve \
  --character-set-server=utf8mb4 "$@"
