#!/usr/bin/env bash
# Every backing server started by scripts/stack.sh answers real clients on the
# addresses `scripts/stack.sh env` prints: mariadb on master and replica (with
# GTID replication running, semi-sync on at both ends, AFTER_SYNC and two
# replicas acking), redis-cli (and the Sentinels naming that master), kcat -L
# (with the platform's topics) and an S3 request signed with the printed keys.
set -uo pipefail
failures=0
check() {  # check "what" command...
    local what=$1; shift
    if "$@"; then echo "ok   - $what"; else echo "FAIL - $what"; failures=$((failures + 1)); fi
}
need() { [ -n "${!1:-}" ] || { echo "FAIL - $1 is not set: eval \"\$(scripts/stack.sh env)\""; exit 1; }; }
for v in MCLOUD_MYSQL_MASTER MCLOUD_MYSQL_REPLICA MCLOUD_MYSQL_USER MCLOUD_MYSQL_PASSWORD MCLOUD_REDIS_SENTINEL \
         MCLOUD_MYSQL_DATABASE MCLOUD_REDIS MCLOUD_KAFKA MCLOUD_S3_ENDPOINT MCLOUD_S3_REGION \
         MCLOUD_S3_BUCKET MCLOUD_S3_ACCESS_KEY MCLOUD_S3_SECRET_KEY; do need "$v"; done

sql() {  # sql host:port statement
    mariadb -h "${1%:*}" -P "${1##*:}" -u "$MCLOUD_MYSQL_USER" -p"$MCLOUD_MYSQL_PASSWORD" \
            -D "$MCLOUD_MYSQL_DATABASE" --batch --skip-column-names -e "$2"
}
status_value() {  # status_value host:port variable
    sql "$1" "SHOW STATUS LIKE '$2'" | awk '{print $2}'
}
slave_field() {  # slave_field field
    mariadb -h "${MCLOUD_MYSQL_REPLICA%:*}" -P "${MCLOUD_MYSQL_REPLICA##*:}" -u "$MCLOUD_MYSQL_USER" \
            -p"$MCLOUD_MYSQL_PASSWORD" -e 'SHOW SLAVE STATUS\G' | sed -n "s/^ *$1: //p"
}

check "mariadb master answers SELECT 1" test "$(sql "$MCLOUD_MYSQL_MASTER" 'SELECT 1')" = 1
check "mariadb replica answers SELECT 1" test "$(sql "$MCLOUD_MYSQL_REPLICA" 'SELECT 1')" = 1
check "replica Slave_IO_Running: Yes" test "$(slave_field Slave_IO_Running)" = Yes
check "replica Slave_SQL_Running: Yes" test "$(slave_field Slave_SQL_Running)" = Yes
# Slave_Pos when stack.sh set the replica up, Current_Pos once mcloud-dbmon
# re-attached it (a fence or a failover): both are GTID replication, No is not.
using_gtid=$(slave_field Using_Gtid)
check "replica replicates with GTID (Using_Gtid: ${using_gtid:-nothing})" \
    grep -qxE 'Slave_Pos|Current_Pos' <<<"$using_gtid"
check "master semi-sync on" test "$(status_value "$MCLOUD_MYSQL_MASTER" Rpl_semi_sync_master_status)" = ON
check "replica semi-sync on" test "$(status_value "$MCLOUD_MYSQL_REPLICA" Rpl_semi_sync_slave_status)" = ON
check "master has two semi-sync replicas" test "$(status_value "$MCLOUD_MYSQL_MASTER" Rpl_semi_sync_master_clients)" = 2
check "master waits AFTER_SYNC" \
    test "$(sql "$MCLOUD_MYSQL_MASTER" 'SELECT @@rpl_semi_sync_master_wait_point')" = AFTER_SYNC
s1=${MCLOUD_REDIS_SENTINEL#*@}; s1=${s1%%,*}
check "Sentinel names the Redis master at \$MCLOUD_REDIS" \
    test "$(redis-cli -h "${s1%:*}" -p "${s1##*:}" SENTINEL get-master-addr-by-name mcloud | paste -sd:)" = "$MCLOUD_REDIS"
check "redis-cli PING answers PONG" \
    test "$(redis-cli -h "${MCLOUD_REDIS%:*}" -p "${MCLOUD_REDIS##*:}" PING)" = PONG

topics=$(kcat -b "$MCLOUD_KAFKA" -L -m 10 2>&1)
for t in mcloud.transcode.jobs mcloud.video.events mcloud.transcode.events mcloud.transcode.dlq; do
    check "kcat -L lists topic $t" grep -q "topic \"$t\" with [1-9][0-9]* partitions" <<<"$topics"
done

s3_status() {  # s3_status secret
    curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:$MCLOUD_S3_REGION:s3" \
         --user "$MCLOUD_S3_ACCESS_KEY:$1" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
         "$MCLOUD_S3_ENDPOINT/$MCLOUD_S3_BUCKET?list-type=2&max-keys=1"
}
check "S3 ListObjectsV2 signed with the printed keys: 200" test "$(s3_status "$MCLOUD_S3_SECRET_KEY")" = 200
check "S3 request signed with a wrong secret: 403" test "$(s3_status wrong-secret)" = 403

echo "$(( 18 - failures )) passed, $failures failed"
[ "$failures" = 0 ]
