#!/bin/sh
# docker/backing/mariadb.sh — MariaDB of docker/compose.yaml: makes sure of the
# database and the mcloud account at every start (the services apply their
# schema migrations themselves), then runs mariadbd in the foreground.
set -eu
: "${MCLOUD_MYSQL_DATABASE:?}" "${MCLOUD_MYSQL_USER:?}" "${MCLOUD_MYSQL_PASSWORD:?}"
datadir=/var/lib/mysql
if [ ! -d "$datadir/mysql" ]; then
  echo "mariadb: creating $datadir"
  mariadb-install-db --datadir="$datadir" --skip-test-db --auth-root-authentication-method=socket >/dev/null
fi
# At every start (idempotent): the database and the account, its password
# the one in the environment. Debian's package already made $datadir/mysql.
printf "CREATE DATABASE IF NOT EXISTS \`%s\`;\nCREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s';\nALTER USER '%s'@'%%' IDENTIFIED BY '%s';\nGRANT ALL ON \`%s\`.* TO '%s'@'%%';\n" \
  "$MCLOUD_MYSQL_DATABASE" "$MCLOUD_MYSQL_USER" "$MCLOUD_MYSQL_PASSWORD" "$MCLOUD_MYSQL_USER" "$MCLOUD_MYSQL_PASSWORD" \
  "$MCLOUD_MYSQL_DATABASE" "$MCLOUD_MYSQL_USER" >/tmp/init.sql
set -- "$@" --init-file=/tmp/init.sql
exec mariadbd --datadir="$datadir" --socket=/tmp/mysqld.sock --pid-file=/tmp/mysqld.pid --bind-address=0.0.0.0 --port=3306 --skip-name-resolve \
  --character-set-server=utf8mb4 "$@"
