#!/bin/sh
# docker/backing/minio.sh — MinIO of docker/compose.yaml, the binary
# scripts/bootstrap.sh built (mounted at /opt/minio/minio): creates the bucket
# once the server answers (boto3, Debian's python3-boto3), runs in the foreground.
set -eu
bin=/opt/minio/minio
[ -x "$bin" ] || { echo "minio: no MinIO binary at $bin: run scripts/bootstrap.sh minio and set MCLOUD_CACHE" >&2; exit 1; }
export MINIO_ROOT_USER="${MCLOUD_S3_ACCESS_KEY:?}" MINIO_ROOT_PASSWORD="${MCLOUD_S3_SECRET_KEY:?}"
export MINIO_SITE_REGION="${MCLOUD_S3_REGION:-us-east-1}" MINIO_UPDATE=off
(
  python3 - <<'PY'
import os, time, boto3, botocore
s3 = boto3.client("s3", endpoint_url="http://localhost:9000", region_name=os.environ["MINIO_SITE_REGION"],
                  aws_access_key_id=os.environ["MINIO_ROOT_USER"], aws_secret_access_key=os.environ["MINIO_ROOT_PASSWORD"])
bucket = os.environ["MCLOUD_S3_BUCKET"]
for _ in range(300):
    try:
        s3.head_bucket(Bucket=bucket)
        break
    except botocore.exceptions.ClientError:
        s3.create_bucket(Bucket=bucket)
        print(f"minio: created bucket {bucket}", flush=True)
        break
    except Exception:
        time.sleep(1)
PY
) &
exec "$bin" server --address :9000 --console-address :9001 /var/lib/minio
