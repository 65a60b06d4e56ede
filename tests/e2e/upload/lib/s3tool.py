"""s3tool.py — read back what the upload service stored, straight from S3.

Run with the stack's venv python (boto3), environment from
`scripts/stack.sh env`. Prints one JSON object.

  s3tool.py sha256 KEY   {"exists": bool, "size": N, "sha256": hex}
  s3tool.py delete KEY   {"deleted": KEY}
"""

import hashlib
import json
import os
import sys

import boto3
from botocore.config import Config


def client():
    return boto3.client(
        "s3",
        endpoint_url=os.environ["MCLOUD_S3_ENDPOINT"],
        region_name=os.environ.get("MCLOUD_S3_REGION", "us-east-1"),
        aws_access_key_id=os.environ["MCLOUD_S3_ACCESS_KEY"],
        aws_secret_access_key=os.environ["MCLOUD_S3_SECRET_KEY"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
    )


def main():
    op, key = sys.argv[1], sys.argv[2]
    bucket = os.environ.get("MCLOUD_S3_BUCKET", "mcloud")
    s3 = client()
    if op == "sha256":
        try:
            obj = s3.get_object(Bucket=bucket, Key=key)
        except s3.exceptions.NoSuchKey:
            print(json.dumps({"exists": False}))
            return
        h = hashlib.sha256()
        n = 0
        for chunk in obj["Body"].iter_chunks(1 << 20):
            h.update(chunk)
            n += len(chunk)
        print(json.dumps({"exists": True, "size": n, "sha256": h.hexdigest()}))
    elif op == "delete":
        s3.delete_object(Bucket=bucket, Key=key)
        print(json.dumps({"deleted": key}))
    else:
        sys.exit(f"unknown operation {op}")


if __name__ == "__main__":
    main()
